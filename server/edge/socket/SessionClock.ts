/**
 * A connection's token lifetime. A minute before the token runs out the
 * client is told (`session:expiring`) so it can send a fresh token with
 * `session:refreshToken`; if it does not, the connection ends with reason
 * `token_expired` — after `expired` listeners (e.g. the room, which lets
 * the participant go at once instead of holding a reconnect place).
 */
import { EventEmitter } from 'node:events';
import { ForbiddenError } from '../../errors.ts';
import type { Identity } from '../auth/identity.ts';

export const EXPIRY_WARNING_SECONDS = 60;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SessionClockEvents {
  expiring: [number];
  expired: [];
}

export class SessionClock extends EventEmitter<SessionClockEvents> {
  #identity: Identity;
  #warning: NodeJS.Timeout | undefined;
  #expiry: NodeJS.Timeout | undefined;
  #stopped = false;
  #expired = false;

  constructor(identity: Identity) {
    super();
    this.#identity = identity;
    this.#schedule();
  }

  get identity(): Identity {
    return this.#identity;
  }

  /** True once the token has run out (and `expired` was emitted). */
  get expired(): boolean {
    return this.#expired;
  }

  /**
   * Accepts a fresh token for the same person, role and room (a token for
   * someone else cannot take over a connection) that lives longer.
   */
  refresh(next: Identity): void {
    const current = this.#identity;
    if (next.userId !== current.userId || next.role !== current.role || next.roomId !== current.roomId) {
      throw new ForbiddenError('The new token is for another user, role or room.');
    }
    if (next.expiresAt < current.expiresAt) throw new ForbiddenError('The new token expires earlier than the current one.');
    this.#identity = next;
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#warning);
    clearTimeout(this.#expiry);
  }

  #schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#warning);
    clearTimeout(this.#expiry);
    const msLeft = this.#identity.expiresAt * 1000 - Date.now();
    const expiresAt = this.#identity.expiresAt;
    this.#warning = setTimeout(
      () => this.emit('expiring', expiresAt),
      clamp(msLeft - EXPIRY_WARNING_SECONDS * 1000),
    );
    this.#expiry = setTimeout(() => {
      // Timers cannot span more than ~24.8 days: re-arm until the real expiry.
      if (this.#identity.expiresAt * 1000 > Date.now() + 1000) {
        this.#schedule();
        return;
      }
      this.stop();
      this.#expired = true;
      this.emit('expired');
    }, clamp(msLeft));
  }
}

function clamp(ms: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}
