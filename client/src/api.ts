/** REST calls and the token kept for this browser tab (sessionStorage). */
import type { ErrorBody } from '../../server/protocol/errorCodes.ts';
import { BACK_OFFICE_ROLES, type BackOfficeRole, type Role } from '../../server/protocol/roles.ts';

export interface StoredSession {
  token: string;
  userId: string;
  role: Role;
  displayName: string | null;
  roomId: string | null;
  expiresAt: number;
  /** Back-office staff: department (`dept` claim), as the token says. */
  department?: string | null;
  /** Back-office staff: positions held (e.g. department_head); approval tiers and break-glass match on them. */
  positions?: string[];
  /** Institution administrators: the institution they act for (`inst` claim). */
  institutionId?: string | null;
}

/**
 * The short-lived room token of one consultation visit, kept beside (never
 * instead of) the staff session: the consultation pages go on using the
 * staff token while the room page uses this one.
 */
export interface VisitSession extends StoredSession {
  consultationId: string;
}

/** Whether the session administers an institution (the consultation inbox of invitations, its practitioners). */
export function adminsInstitution(s: StoredSession | null): s is StoredSession & { institutionId: string } {
  return s !== null && s.role === 'institution_admin' && typeof s.institutionId === 'string' && s.institutionId !== '';
}

/** Whether the session is a practitioner's (doctors and pharmacists sign in with a live role and their practitioner id). */
export function isPractitioner(s: StoredSession | null): s is StoredSession {
  return s !== null && (s.role === 'host' || s.role === 'expert');
}

/** Whether the session is a back-office account (recordings review and approval, never a live room). */
export function isBackOffice(s: StoredSession | null): s is StoredSession & { role: BackOfficeRole } {
  return s !== null && (BACK_OFFICE_ROLES as readonly Role[]).includes(s.role);
}

/** Whether the session works the approval queue and oversight (`/approvals`). */
export function seesApprovals(s: StoredSession | null): boolean {
  return s !== null && (s.role === 'approver' || s.role === 'institution_admin');
}

const KEY = 'huizhen.session';

export const session = {
  get(): StoredSession | null {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    try {
      const s = JSON.parse(raw) as StoredSession;
      return s.expiresAt * 1000 > Date.now() ? s : null;
    } catch {
      return null;
    }
  },
  set(s: StoredSession): void {
    sessionStorage.setItem(KEY, JSON.stringify(s));
  },
  clear(): void {
    sessionStorage.removeItem(KEY);
  },
};

/** A failed call, carrying the server's error code for translation. */
export class ApiError extends Error {
  readonly body: ErrorBody;
  readonly status: number;

  constructor(status: number, body: ErrorBody) {
    super(body.message);
    this.status = status;
    this.body = body;
  }
}

const VISIT_KEY = 'huizhen.visit';

/** Visit tokens of this tab, one per consultation (sessionStorage, like the staff session). */
export const visitSession = {
  get(consultationId: string): VisitSession | null {
    try {
      const all = JSON.parse(sessionStorage.getItem(VISIT_KEY) ?? '{}') as Record<string, VisitSession>;
      const v = all[consultationId];
      // A minute's margin: a token about to expire is fetched afresh.
      return v && v.expiresAt * 1000 > Date.now() + 60_000 ? v : null;
    } catch {
      return null;
    }
  },
  set(v: VisitSession): void {
    let all: Record<string, VisitSession> = {};
    try {
      all = JSON.parse(sessionStorage.getItem(VISIT_KEY) ?? '{}') as Record<string, VisitSession>;
    } catch {
      all = {};
    }
    // Keep only live ones: they are tokens.
    for (const [id, old] of Object.entries(all)) if (old.expiresAt * 1000 <= Date.now()) delete all[id];
    all[v.consultationId] = v;
    sessionStorage.setItem(VISIT_KEY, JSON.stringify(all));
  },
};

async function send(method: 'GET' | 'POST', path: string, body: BodyInit | undefined, contentType: string | undefined): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = session.get()?.token;
  if (token) headers['Authorization'] = `Bearer ${token}`;
  if (contentType) headers['Content-Type'] = contentType;
  const res = await fetch(path, { method, headers, body });
  if (!res.ok) {
    const json = (await res.json().catch(() => ({}))) as { error?: ErrorBody };
    throw new ApiError(res.status, json.error ?? { code: 'INTERNAL', message: res.statusText });
  }
  return res;
}

export async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await send(method, path, body === undefined ? undefined : JSON.stringify(body), body === undefined ? undefined : 'application/json');
  return (await res.json().catch(() => ({}))) as T;
}

/** POSTs a file as the raw request body (documents), answering JSON. */
export async function apiUpload<T>(path: string, file: Blob, contentType: string): Promise<T> {
  const res = await send('POST', path, file, contentType);
  return (await res.json()) as T;
}

/** GETs something that is not JSON (a document), with the session's token. */
export async function apiBlob(path: string): Promise<Blob> {
  return (await send('GET', path, undefined, undefined)).blob();
}

export interface ServerInfo {
  version: string;
  devLogin: boolean;
}

let info: Promise<ServerInfo> | undefined;

/** `/api/info`, fetched once per page. */
export function serverInfo(): Promise<ServerInfo> {
  info ??= api<ServerInfo>('GET', '/api/info').catch(() => ({ version: '?', devLogin: false }));
  return info;
}
