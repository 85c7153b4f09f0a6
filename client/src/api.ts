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

export async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = session.get()?.token;
  if (token) headers['Authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = (await res.json().catch(() => ({}))) as { error?: ErrorBody } & T;
  if (!res.ok) {
    throw new ApiError(res.status, json.error ?? { code: 'INTERNAL', message: res.statusText });
  }
  return json;
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
