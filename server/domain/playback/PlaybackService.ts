/**
 * Playback under a grant. The server decrypts; the viewer's browser only
 * ever receives the media bytes it asks for, over HTTP Range requests to
 * one play session, never the key and never a download.
 *
 * - A play (`start`) checks the grant, prepares the grant's playable file
 *   once (the export, kept encrypted under a key held in memory:
 *   EncryptedMediaCache), and only then uses one of the grant's plays, so a
 *   failed preparation costs none. It opens a session with two secrets: a
 *   capability in the media URL and an HttpOnly cookie scoped to the
 *   session's path, so the URL alone opens nothing.
 * - Media goes out only as byte ranges of at most MAX_RANGE_BYTES per
 *   response; a request without a Range header is refused.
 * - Every range request re-checks the grant; every range served is audited
 *   (who, when, which bytes, how many were sent).
 * - A session ends when the viewer closes it, after the policy's idle time
 *   without a media request, at its maximum lifetime (the recording's length
 *   × lifetimeFactor + slack) and at the end of the grant, whichever comes
 *   first: each is a timer, not a sweep. When a grant is revoked or runs out,
 *   its sessions end at once: streams in progress are cut, event listeners
 *   told, the cache deleted.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Identity } from '../../edge/auth/identity.ts';
import { NotFoundError } from '../../errors.ts';
import type { PlayStart } from '../../protocol/playback.ts';
import type { ApprovalService } from '../approvals/ApprovalService.ts';
import { ApprovalError } from '../approvals/approvalErrors.ts';
import type { ApprovalPolicy } from '../approvals/ApprovalPolicy.ts';
import type { AuditSink } from '../audit/AuditTrail.ts';
import { exportContentType, type RecordingArchive } from '../recordings/RecordingArchive.ts';
import { EncryptedMediaCache } from './EncryptedMediaCache.ts';

export interface PlaybackServiceDeps {
  approvals: ApprovalService;
  archive: RecordingArchive;
  audit: AuditSink;
  /** Where playable files are kept (encrypted) while a grant is in use. */
  cacheDir: string;
  /** Where the export writes plaintext for the moment before it is encrypted (RAM where possible). */
  workDir: string;
  log: Logger;
  /** Idle time and lifetime of play sessions; default the approval policy's `playSession`. */
  session?: PlaySessionTiming;
  /**
   * Scale-out: the path under which the load balancer reaches this node
   * (`/node/n1` for HUIZHEN_NODE_URL https://consult.hospital/node/n1), so
   * that a player's ranges come back to the node that holds its session.
   * Default: none.
   */
  pathPrefix?: string;
}

export interface PlaySessionTiming {
  idleMs: number;
  lifetimeFactor: number;
  lifetimeSlackMs: number;
}

/** The most bytes one media response carries; the <video> element asks for the next part itself. */
export const MAX_RANGE_BYTES = 2 * 1024 * 1024;

/** The cookie that binds a play session to the browser that started it (path-scoped to the session). */
export const PLAY_COOKIE = '__Secure-huizhen-play';

export type PlayEvent = { type: 'revoked' } | { type: 'expired' } | { type: 'ended' };

/** Why a session ended: the grant (revoked, expired), the viewer, its idle time or lifetime, or the server stopping. */
export type SessionEndReason = 'revoked' | 'expired' | 'viewer' | 'idle' | 'lifetime' | 'shutdown';

interface PreparedMedia {
  cache: EncryptedMediaCache;
  contentType: string;
}

export interface PlaySession {
  readonly sessionId: string;
  readonly requestId: string;
  readonly recordingId: string;
  readonly viewer: { userId: string; role: string; name: string | null };
  readonly tokenHash: Buffer;
  readonly cookieHash: Buffer;
  /** The session ends at this time at the latest (its lifetime, or the grant's end). */
  readonly endsAt: Date;
  /** Streams under way, cut when the session ends. */
  readonly streams: Set<{ destroy(): void }>;
  readonly listeners: Set<(event: PlayEvent) => void>;
  ended: boolean;
  endReason: SessionEndReason | null;
}

/** What `start` hands the edge: the player's view of the session, and the cookie to set. */
export interface OpenedPlay {
  play: PlayStart;
  cookie: { name: string; value: string; path: string; maxAgeMs: number };
}

export interface RangeAnswer {
  status: 206;
  start: number;
  end: number;
  size: number;
  contentType: string;
  body: Readable;
}

export class RangeNotSatisfiableError extends Error {
  readonly size: number;

  constructor(size: number) {
    super('range not satisfiable');
    this.size = size;
  }
}

const sha256 = (value: string): Buffer => crypto.createHash('sha256').update(value).digest();
/** setTimeout takes at most 2^31-1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function timingFrom(policy: ApprovalPolicy): PlaySessionTiming {
  return {
    idleMs: policy.playSession.idleMinutes * 60_000,
    lifetimeFactor: policy.playSession.lifetimeFactor,
    lifetimeSlackMs: policy.playSession.lifetimeSlackMinutes * 60_000,
  };
}

export class PlaybackService {
  readonly #deps: PlaybackServiceDeps;
  readonly #log: Logger;
  readonly #timing: PlaySessionTiming;
  readonly #media = new Map<string, Promise<PreparedMedia>>();
  readonly #sessions = new Map<string, PlaySession>();
  readonly #timers = new Map<string, { end: NodeJS.Timeout; idle: NodeJS.Timeout | null }>();
  #closed = false;

  constructor(deps: PlaybackServiceDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'playback' });
    this.#timing = deps.session ?? timingFrom(deps.approvals.policy);
    // Files a previous run left are unreadable (their keys died with it).
    fs.rmSync(deps.cacheDir, { recursive: true, force: true });
    fs.mkdirSync(deps.cacheDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(deps.workDir, { recursive: true, mode: 0o700 });
    deps.approvals.events.on('ended', this.#onGrantEnded);
  }

  readonly #onGrantEnded = (requestId: string, status: 'revoked' | 'expired'): void => this.#endGrant(requestId, status);

  /**
   * Opens a play session for the viewer's grant. The grant is checked
   * before anything is decrypted, and one play is used only once the
   * playable file is ready.
   */
  async start(identity: Identity, requestId: string): Promise<OpenedPlay> {
    const { recordingSeconds, request } = await this.#deps.approvals.checkPlayable(identity, requestId);
    const media = await this.#prepare(request.requestId, request.recordingId);
    const sessionId = `play-${crypto.randomUUID()}`;
    const req = await this.#deps.approvals.consumePlay(identity, requestId, { sessionId });
    const token = crypto.randomBytes(32).toString('base64url');
    const cookie = crypto.randomBytes(32).toString('base64url');
    const now = Date.now();
    const grantEnd = req.grantExpiresAt!.getTime();
    const lifetimeEnd = recordingSeconds === null ? grantEnd : now + recordingSeconds * 1000 * this.#timing.lifetimeFactor + this.#timing.lifetimeSlackMs;
    const endsAt = Math.min(grantEnd, lifetimeEnd);
    const session: PlaySession = {
      sessionId,
      requestId,
      recordingId: req.recordingId,
      viewer: { userId: identity.userId, role: identity.role, name: identity.displayName },
      tokenHash: sha256(token),
      cookieHash: sha256(cookie),
      endsAt: new Date(endsAt),
      streams: new Set(),
      listeners: new Set(),
      ended: false,
      endReason: null,
    };
    this.#sessions.set(sessionId, session);
    // The grant's end cuts the session at once (not at the next expiry sweep).
    const end = setTimeout(() => this.#timeUp(session, endsAt >= grantEnd ? 'expired' : 'lifetime'), Math.min(Math.max(endsAt - now, 0), MAX_TIMER_MS));
    end.unref();
    this.#timers.set(sessionId, { end, idle: null });
    this.#touch(session);
    this.#log.info({ sessionId, requestId, viewer: identity.userId, endsAt: session.endsAt.toISOString() }, 'play session opened');
    const base = `${this.#deps.pathPrefix ?? ''}/api/plays/${sessionId}`;
    return {
      play: {
        sessionId,
        mediaUrl: `${base}/media?t=${token}`,
        eventsUrl: `${base}/events?t=${token}`,
        endUrl: `${base}?t=${token}`,
        contentType: media.contentType,
        bytes: media.cache.size,
        sessionEndsAt: session.endsAt.toISOString(),
        watermark: { name: identity.displayName ?? identity.userId, userId: identity.userId, requestId },
        grant: { expiresAt: req.grantExpiresAt!.toISOString(), playsUsed: req.playsUsed, maxPlays: req.maxPlays },
      },
      cookie: { name: PLAY_COOKIE, value: cookie, path: base, maxAgeMs: Math.max(endsAt - now, 0) },
    };
  }

  /**
   * The session a capability token opens, when the request also carries the
   * session's cookie. NotFound for a wrong session or token (no hint which
   * part was wrong); PLAY_COOKIE_REQUIRED for a right URL without the cookie
   * (the URL was copied out of the browser that started the session).
   */
  session(sessionId: string, token: string, cookie: string | undefined): PlaySession {
    const session = this.#sessions.get(sessionId);
    if (!session || session.ended || !crypto.timingSafeEqual(sha256(token), session.tokenHash)) throw new NotFoundError('no such play session');
    if (cookie === undefined || !crypto.timingSafeEqual(sha256(cookie), session.cookieHash)) {
      throw new ApprovalError('PLAY_COOKIE_REQUIRED', 'this play session opens only in the browser page that started it');
    }
    return session;
  }

  /**
   * Bytes of the session's media for a Range header, after re-checking the
   * grant: at most MAX_RANGE_BYTES from the range's start (a shorter 206
   * than asked for is legal, and <video> asks for the rest). Without a
   * single byte range: RANGE_REQUIRED.
   */
  async range(session: PlaySession, rangeHeader: string | undefined): Promise<RangeAnswer> {
    this.#touch(session);
    if (!rangeHeader) throw new ApprovalError('RANGE_REQUIRED', 'recordings stream in byte ranges (Range: bytes=…); there is no whole-file answer');
    await this.#deps.approvals.assertStreamable(session.requestId);
    this.assertOpen(session);
    const media = await this.#prepare(session.requestId, session.recordingId);
    this.assertOpen(session);
    const size = media.cache.size;
    const parsed = parseRange(rangeHeader, size);
    if (!parsed) throw new ApprovalError('RANGE_REQUIRED', 'one range of bytes (Range: bytes=start-end) is required');
    const { start } = parsed;
    const end = Math.min(parsed.end, start + MAX_RANGE_BYTES - 1);
    return { status: 206, start, end, size, contentType: media.contentType, body: media.cache.read(start, end) };
  }

  /** Throws the coded error of an ended session: the grant's (expired), or revoked for every other end. */
  assertOpen(session: PlaySession): void {
    if (!session.ended) return;
    if (session.endReason === 'expired') throw new ApprovalError('GRANT_EXPIRED', 'the grant has expired');
    throw new ApprovalError('GRANT_REVOKED', 'the play session has ended');
  }

  /**
   * A response streaming media: cut when the session ends; while one is
   * under way the session is not idle. Returns its release, called when the
   * response has finished or been cut.
   */
  track(session: PlaySession, stream: { destroy(): void }): () => void {
    session.streams.add(stream);
    this.#touch(session);
    return () => {
      session.streams.delete(stream);
      this.#touch(session);
    };
  }

  /** Records a served range once its response has finished or been cut. */
  rangeServed(session: PlaySession, range: { start: number; end: number; bytesSent: number; completed: boolean }): void {
    this.#deps.audit.record({
      action: 'playback.range_served',
      actor: session.viewer.userId,
      actorRole: session.viewer.role,
      subject: `recording:${session.recordingId}`,
      details: { requestId: session.requestId, sessionId: session.sessionId, ...range },
    });
  }

  /** The viewer closed the player. */
  endSession(session: PlaySession): void {
    this.#finish(session, 'viewer');
  }

  /** Idempotent: ends every session and deletes every cached file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#deps.approvals.events.off('ended', this.#onGrantEnded);
    for (const session of this.#sessions.values()) this.#end(session, { type: 'ended' }, 'shutdown');
    for (const prepared of this.#media.values()) {
      try {
        (await prepared).cache.close();
      } catch {
        // A preparation that failed left nothing.
      }
    }
    this.#media.clear();
    fs.rmSync(this.#deps.cacheDir, { recursive: true, force: true });
  }

  #prepare(requestId: string, recordingId: string): Promise<PreparedMedia> {
    let prepared = this.#media.get(requestId);
    if (!prepared) {
      prepared = this.#export(requestId, recordingId);
      this.#media.set(requestId, prepared);
      prepared.catch(() => this.#media.delete(requestId));
    }
    return prepared;
  }

  async #export(requestId: string, recordingId: string): Promise<PreparedMedia> {
    const plain = path.join(this.#deps.workDir, `${requestId}-${crypto.randomUUID()}.media`);
    const started = Date.now();
    // In the trail before the key is used, whatever happens next.
    await this.#deps.audit.append({ action: 'key.data_key_unwrapped', actor: 'system', subject: `recording:${recordingId}`, details: { requestId, purpose: 'playback' } });
    try {
      const { format } = await this.#deps.archive.export(recordingId, plain);
      const cache = await EncryptedMediaCache.seal(plain, path.join(this.#deps.cacheDir, `${requestId}.bin`));
      this.#log.info({ requestId, recordingId, bytes: cache.size, ms: Date.now() - started }, 'playable file prepared');
      return { cache, contentType: exportContentType(format) };
    } finally {
      fs.rmSync(plain, { force: true });
    }
  }

  /**
   * A grant ended on another node of the cluster (revoked or expired there):
   * its play sessions here end too. Idempotent.
   */
  endGrant(requestId: string, status: 'revoked' | 'expired'): void {
    this.#endGrant(requestId, status);
  }

  /** Activity: the idle timer starts again, or stops while a stream is under way. */
  #touch(session: PlaySession): void {
    const timers = this.#timers.get(session.sessionId);
    if (!timers || session.ended) return;
    if (timers.idle) clearTimeout(timers.idle);
    timers.idle = null;
    if (session.streams.size > 0) return;
    timers.idle = setTimeout(() => this.#finish(session, 'idle'), Math.min(this.#timing.idleMs, MAX_TIMER_MS));
    timers.idle.unref();
  }

  /** The session's end time has come: its lifetime, or its grant's end. */
  #timeUp(session: PlaySession, reason: 'expired' | 'lifetime'): void {
    if (reason === 'lifetime') {
      this.#finish(session, 'lifetime');
      return;
    }
    this.#end(session, { type: 'expired' }, 'expired');
    // Records the expiry now (audited), which ends the grant's other sessions and deletes its file.
    this.#deps.approvals.expireIfDue(session.requestId).catch((err: unknown) => {
      this.#log.error({ err: { message: (err as Error).message }, requestId: session.requestId }, 'grant expiry could not be recorded');
    });
  }

  /** Ends a session for a reason of its own (not its grant's), audited. */
  #finish(session: PlaySession, reason: 'viewer' | 'idle' | 'lifetime'): void {
    if (session.ended) return;
    this.#end(session, { type: 'ended' }, reason);
    this.#deps.audit.record({
      action: 'playback.play_ended',
      actor: reason === 'viewer' ? session.viewer.userId : 'system',
      actorRole: reason === 'viewer' ? session.viewer.role : null,
      subject: `recording:${session.recordingId}`,
      details: { requestId: session.requestId, sessionId: session.sessionId, reason },
    });
  }

  #endGrant(requestId: string, status: 'revoked' | 'expired'): void {
    for (const session of this.#sessions.values()) {
      if (session.requestId === requestId) this.#end(session, { type: status }, status);
    }
    const prepared = this.#media.get(requestId);
    this.#media.delete(requestId);
    prepared?.then(
      (m) => m.cache.close(),
      () => undefined,
    );
  }

  #end(session: PlaySession, event: PlayEvent, reason: SessionEndReason): void {
    if (session.ended) return;
    session.ended = true;
    session.endReason = reason;
    const timers = this.#timers.get(session.sessionId);
    if (timers) {
      clearTimeout(timers.end);
      if (timers.idle) clearTimeout(timers.idle);
      this.#timers.delete(session.sessionId);
    }
    for (const stream of session.streams) stream.destroy();
    session.streams.clear();
    for (const listener of session.listeners) listener(event);
    session.listeners.clear();
    this.#sessions.delete(session.sessionId);
    if (reason !== 'viewer' && reason !== 'shutdown') this.#log.info({ sessionId: session.sessionId, requestId: session.requestId, reason }, 'play session stopped');
  }
}

/** One `bytes=` range, clamped to the file; null for no header or one that is not a single byte range; throws when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) {
    // Several ranges or another unit: refused by the caller (never the whole file).
    return null;
  }
  const [, a, b] = match;
  let start: number;
  let end: number;
  if (a === '') {
    if (b === '') throw new RangeNotSatisfiableError(size);
    start = Math.max(0, size - Number(b));
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  }
  if (start >= size || start > end) throw new RangeNotSatisfiableError(size);
  return { start, end };
}
