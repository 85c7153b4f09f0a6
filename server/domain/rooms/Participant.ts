/**
 * One person in (or waiting to enter) a consultation room: who they are,
 * where they are in their stay, and how to reach them.
 *
 *   waiting ──admit──▶ admitted ──connection lost──▶ disconnected ──resume──▶ admitted
 *      │                  │                              │
 *      └──deny/leave──▶ gone ◀──leave/remove/expire──────┴──grace over──▶ gone
 */
import crypto from 'node:crypto';
import type { RtpCapabilities } from 'mediasoup/types';
import { InvalidStateError } from '../../errors.ts';
import type { Capabilities, NetworkQuality, PeerLeaveReason } from '../../protocol/room.ts';
import type { LiveRole } from '../../protocol/roles.ts';
import { capabilitiesOf } from './capabilities.ts';
import type { PeerConnection } from './PeerConnection.ts';

export type ParticipantState =
  | { kind: 'waiting'; since: number }
  | { kind: 'admitted' }
  | { kind: 'disconnected'; since: number }
  | { kind: 'gone'; reason: PeerLeaveReason };

export interface ParticipantIdentity {
  userId: string;
  role: LiveRole;
  displayName: string | null;
}

export class Participant {
  readonly peerId: string;
  readonly identity: ParticipantIdentity;
  readonly capabilities: Capabilities;
  #state: ParticipantState;
  #connection: PeerConnection;
  #resumeToken: string | null = null;
  rtpCapabilities: RtpCapabilities | null = null;
  networkQuality: NetworkQuality | null = null;

  /** `peerId`: given only when a participant is restored on another node (scale-out) under its old id. */
  constructor(identity: ParticipantIdentity, connection: PeerConnection, now = Date.now(), peerId = `p-${crypto.randomUUID()}`) {
    this.peerId = peerId;
    this.identity = identity;
    this.capabilities = capabilitiesOf(identity.role);
    this.#connection = connection;
    this.#state = { kind: 'waiting', since: now };
  }

  get state(): ParticipantState {
    return this.#state;
  }

  get connection(): PeerConnection {
    return this.#connection;
  }

  /** In the room with a live connection or within the reconnect grace period. */
  get inRoom(): boolean {
    return this.#state.kind === 'admitted' || this.#state.kind === 'disconnected';
  }

  /** Admits a waiting participant; returns the first resume token. */
  admit(): string {
    if (this.#state.kind !== 'waiting') throw new InvalidStateError('only a waiting participant can be admitted');
    this.#state = { kind: 'admitted' };
    return this.#rotateResumeToken();
  }

  /** The current resume token (kept in memory; the admission ledger stores its hash). */
  get resumeToken(): string | null {
    return this.#resumeToken;
  }

  connectionLost(now = Date.now()): void {
    if (this.#state.kind === 'admitted') this.#state = { kind: 'disconnected', since: now };
  }

  /**
   * Continues this participant on a new connection. The resume token is
   * single-use and bound to this participant and user; a new one is returned.
   */
  resume(userId: string, resumeToken: string, connection: PeerConnection): string {
    if (!this.inRoom) throw new InvalidStateError('this participant can no longer be resumed');
    if (userId !== this.identity.userId || !this.#resumeTokenMatches(resumeToken)) {
      throw new InvalidStateError('this participant can no longer be resumed');
    }
    this.#connection = connection;
    this.#state = { kind: 'admitted' };
    return this.#rotateResumeToken();
  }

  leave(reason: PeerLeaveReason): void {
    this.#state = { kind: 'gone', reason };
    this.#resumeToken = null;
  }

  #rotateResumeToken(): string {
    this.#resumeToken = crypto.randomBytes(32).toString('base64url');
    return this.#resumeToken;
  }

  #resumeTokenMatches(given: string): boolean {
    if (this.#resumeToken === null) return false;
    const a = crypto.createHash('sha256').update(given).digest();
    const b = crypto.createHash('sha256').update(this.#resumeToken).digest();
    return crypto.timingSafeEqual(a, b);
  }
}
