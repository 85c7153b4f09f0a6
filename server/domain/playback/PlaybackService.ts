/**
 * Playback under a grant. The server decrypts; the viewer's browser only
 * ever receives the media bytes it asks for, over HTTP Range requests to
 * one play session, never the key and never a download.
 *
 * - A play (`start`) uses one of the grant's plays, prepares the grant's
 *   playable file once (the export, kept encrypted under a key held in
 *   memory: EncryptedMediaCache) and opens a session with its own
 *   unguessable capability for the <video> element.
 * - Every range request re-checks the grant; every range served is audited
 *   (who, when, which bytes, how many were sent).
 * - When a grant is revoked or runs out, its sessions end at once: streams
 *   in progress are cut, event listeners told, the cache deleted.
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
}

export type PlayEvent = { type: 'revoked' } | { type: 'expired' } | { type: 'ended' };

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
  /** Streams under way, cut when the grant ends. */
  readonly streams: Set<{ destroy(): void }>;
  readonly listeners: Set<(event: PlayEvent) => void>;
  ended: boolean;
}

export interface RangeAnswer {
  status: 200 | 206;
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

export class PlaybackService {
  readonly #deps: PlaybackServiceDeps;
  readonly #log: Logger;
  readonly #media = new Map<string, Promise<PreparedMedia>>();
  readonly #sessions = new Map<string, PlaySession>();
  #closed = false;

  constructor(deps: PlaybackServiceDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'playback' });
    // Files a previous run left are unreadable (their keys died with it).
    fs.rmSync(deps.cacheDir, { recursive: true, force: true });
    fs.mkdirSync(deps.cacheDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(deps.workDir, { recursive: true, mode: 0o700 });
    deps.approvals.events.on('ended', (requestId, status) => this.#endGrant(requestId, status));
  }

  /** Opens a play session for the viewer's grant (uses one play). */
  async start(identity: Identity, requestId: string): Promise<PlayStart> {
    const sessionId = `play-${crypto.randomUUID()}`;
    const req = await this.#deps.approvals.consumePlay(identity, requestId, { sessionId });
    const media = await this.#prepare(req.requestId, req.recordingId);
    const token = crypto.randomBytes(32).toString('base64url');
    const session: PlaySession = {
      sessionId,
      requestId,
      recordingId: req.recordingId,
      viewer: { userId: identity.userId, role: identity.role, name: identity.displayName },
      tokenHash: crypto.createHash('sha256').update(token).digest(),
      streams: new Set(),
      listeners: new Set(),
      ended: false,
    };
    this.#sessions.set(sessionId, session);
    this.#log.info({ sessionId, requestId, viewer: identity.userId }, 'play session opened');
    return {
      sessionId,
      mediaUrl: `/api/plays/${sessionId}/media?t=${token}`,
      eventsUrl: `/api/plays/${sessionId}/events?t=${token}`,
      contentType: media.contentType,
      bytes: media.cache.size,
      watermark: { name: identity.displayName ?? identity.userId, userId: identity.userId, requestId },
      grant: { expiresAt: req.grantExpiresAt!.toISOString(), playsUsed: req.playsUsed, maxPlays: req.maxPlays },
    };
  }

  /** The session a capability token opens; NotFound for anything else (no hint which part was wrong). */
  session(sessionId: string, token: string): PlaySession {
    const session = this.#sessions.get(sessionId);
    const hash = crypto.createHash('sha256').update(token).digest();
    if (!session || session.ended || !crypto.timingSafeEqual(hash, session.tokenHash)) throw new NotFoundError('no such play session');
    return session;
  }

  /** Bytes of the session's media for a Range header (or all of it), after re-checking the grant. */
  async range(session: PlaySession, rangeHeader: string | undefined): Promise<RangeAnswer> {
    await this.#deps.approvals.assertStreamable(session.requestId);
    if (session.ended) throw new ApprovalError('GRANT_REVOKED', 'the play session has ended');
    const media = await this.#prepare(session.requestId, session.recordingId);
    const size = media.cache.size;
    const parsed = parseRange(rangeHeader, size);
    const { start, end } = parsed ?? { start: 0, end: size - 1 };
    return { status: parsed ? 206 : 200, start, end, size, contentType: media.contentType, body: media.cache.read(start, end) };
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
    this.#end(session, { type: 'ended' });
    this.#deps.audit.record({
      action: 'playback.play_ended',
      actor: session.viewer.userId,
      actorRole: session.viewer.role,
      subject: `recording:${session.recordingId}`,
      details: { requestId: session.requestId, sessionId: session.sessionId },
    });
  }

  /** Idempotent: ends every session and deletes every cached file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const session of this.#sessions.values()) this.#end(session, { type: 'ended' });
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
    try {
      const { format } = await this.#deps.archive.export(recordingId, plain);
      this.#deps.audit.record({ action: 'key.data_key_unwrapped', actor: 'system', subject: `recording:${recordingId}`, details: { requestId, purpose: 'playback' } });
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

  #endGrant(requestId: string, status: 'revoked' | 'expired'): void {
    for (const session of this.#sessions.values()) {
      if (session.requestId === requestId) this.#end(session, { type: status });
    }
    const prepared = this.#media.get(requestId);
    this.#media.delete(requestId);
    prepared?.then(
      (m) => m.cache.close(),
      () => undefined,
    );
  }

  #end(session: PlaySession, event: PlayEvent): void {
    if (session.ended) return;
    session.ended = true;
    for (const stream of session.streams) stream.destroy();
    session.streams.clear();
    for (const listener of session.listeners) listener(event);
    session.listeners.clear();
    this.#sessions.delete(session.sessionId);
    if (event.type !== 'ended') this.#log.info({ sessionId: session.sessionId, requestId: session.requestId, reason: event.type }, 'play session stopped');
  }
}

/** One `bytes=` range, clamped to the file; null for no (or an ignorable) header; throws when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) {
    // Several ranges or another unit: answered with the whole file, as RFC 9110 allows.
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
