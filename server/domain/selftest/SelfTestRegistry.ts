/**
 * All running self-tests, with limits: each one holds a router and two
 * transports (UDP and TCP ports), so one account cannot open many, and the
 * server as a whole keeps room for consultations.
 */
import { RateLimitedError } from '../../errors.ts';
import type { MediaNetwork } from '../../media/transports.ts';
import type { WorkerPool } from '../../media/WorkerPool.ts';
import { SelfTestSession } from './SelfTestSession.ts';

export interface SelfTestLimits {
  perUser: number;
  total: number;
  maxDurationMs: number;
}

export const DEFAULT_SELF_TEST_LIMITS: SelfTestLimits = { perUser: 2, total: 100, maxDurationMs: 120_000 };

export class SelfTestRegistry {
  readonly #pool: WorkerPool;
  readonly #network: MediaNetwork;
  readonly #limits: SelfTestLimits;
  /** Sessions (and starts in progress) per user id. */
  readonly #byUser = new Map<string, number>();
  readonly #sessions = new Set<SelfTestSession>();
  #total = 0;
  #closed = false;

  constructor(pool: WorkerPool, network: MediaNetwork, limits: SelfTestLimits = DEFAULT_SELF_TEST_LIMITS) {
    this.#pool = pool;
    this.#network = network;
    this.#limits = limits;
  }

  get size(): number {
    return this.#sessions.size;
  }

  async start(userId: string): Promise<SelfTestSession> {
    if (this.#closed) throw new RateLimitedError('the server is shutting down');
    const mine = this.#byUser.get(userId) ?? 0;
    if (mine >= this.#limits.perUser) throw new RateLimitedError('too many self-tests running for this account');
    if (this.#total >= this.#limits.total) throw new RateLimitedError('the server is running too many self-tests');
    // Count the start before awaiting, so concurrent starts see it.
    this.#byUser.set(userId, mine + 1);
    this.#total += 1;
    let session: SelfTestSession;
    try {
      session = await SelfTestSession.start({
        pool: this.#pool,
        network: this.#network,
        maxDurationMs: this.#limits.maxDurationMs,
      });
    } catch (err) {
      this.#release(userId);
      throw err;
    }
    this.#sessions.add(session);
    session.once('close', () => {
      this.#sessions.delete(session);
      this.#release(userId);
    });
    if (this.#closed) session.close('stopped');
    return session;
  }

  /** Shutdown: ends every self-test. Idempotent. */
  closeAll(): void {
    this.#closed = true;
    for (const session of [...this.#sessions]) session.close('stopped');
  }

  #release(userId: string): void {
    const left = (this.#byUser.get(userId) ?? 1) - 1;
    if (left > 0) this.#byUser.set(userId, left);
    else this.#byUser.delete(userId);
    this.#total -= 1;
  }
}
