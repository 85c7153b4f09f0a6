/**
 * The mediasoup worker processes: one per core by default. Routers are
 * placed on the least-loaded live worker. A worker that dies is removed at
 * once (its routers are already closed by mediasoup), `workerdied` is
 * emitted so the rooms on it can be rebuilt elsewhere, and a replacement is
 * started with backoff.
 *
 * Events (on `events`), in this order for one death:
 * - `workerdied` ({ pid, error }) — after the worker left the pool;
 * - `workeradded` ({ pid }) — when its replacement is ready.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import * as mediasoup from 'mediasoup';
import type { Router, Worker, WorkerLogLevel } from 'mediasoup/types';
import type { Logger } from 'pino';
import { MediaUnavailableError } from '../errors.ts';
import type { WorkerUsageSample, WorkerUsageSource } from '../observability/metrics.ts';
import { MEDIA_CODECS } from './codecs.ts';
import { mediaCall } from './mediaErrors.ts';

export interface WorkerPoolOptions {
  size: number;
  logLevel: WorkerLogLevel;
  log: Logger;
  /** Called once per unexpected worker death. */
  onWorkerDeath?: () => void;
  /** First replacement delay, doubled on each failure up to 30 s. */
  replaceDelayMs?: number;
}

export interface WorkerPoolEvents {
  workerdied: [{ pid: number; error: Error }];
  workeradded: [{ pid: number }];
}

export class WorkerPool implements WorkerUsageSource {
  readonly events = new EventEmitter<WorkerPoolEvents>();
  readonly #options: WorkerPoolOptions;
  readonly #log: Logger;
  /** Live workers and the routers each one hosts. */
  readonly #workers = new Map<Worker, Set<Router>>();
  /** Routers being created, per worker (not yet in #workers' sets). */
  readonly #pending = new Map<Worker, number>();
  readonly #replacementTimers = new Set<NodeJS.Timeout>();
  #closed = false;
  /** Set when shutdown begins: workers exiting now are expected, not deaths. */
  #stopping = false;

  private constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'worker-pool' });
  }

  /** Starts `size` workers; fails if none can start (a broken worker binary). */
  static async create(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    try {
      await Promise.all(Array.from({ length: options.size }, () => pool.#spawn()));
    } catch (err) {
      pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.#options.size;
  }

  liveWorkerCount(): number {
    return this.#workers.size;
  }

  workers(): Worker[] {
    return [...this.#workers.keys()];
  }

  /** A new router with Huizhen's codecs on the least-loaded live worker. */
  async createRouter(appData: Record<string, unknown> = {}): Promise<Router> {
    const worker = this.#leastLoaded();
    // Count the router before awaiting, so a burst of creations spreads out.
    this.#pending.set(worker, (this.#pending.get(worker) ?? 0) + 1);
    let router: Router;
    try {
      router = await mediaCall('create router', () => worker.createRouter({ mediaCodecs: MEDIA_CODECS, appData }));
    } finally {
      const left = (this.#pending.get(worker) ?? 1) - 1;
      if (left > 0) this.#pending.set(worker, left);
      else this.#pending.delete(worker);
    }
    const routers = this.#workers.get(worker);
    if (!routers) {
      // The worker died while the router was being created.
      router.close();
      throw new MediaUnavailableError();
    }
    routers.add(router);
    router.observer.once('close', () => routers.delete(router));
    return router;
  }

  async sampleUsage(): Promise<WorkerUsageSample[]> {
    const samples = await Promise.allSettled(
      this.workers().map(async (w) => {
        const u = await w.getResourceUsage();
        return {
          pid: w.pid,
          userCpuMs: u.ru_utime,
          systemCpuMs: u.ru_stime,
          maxRssKb: u.ru_maxrss,
          rssBytes: await currentRssBytes(w.pid),
        };
      }),
    );
    return samples.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }

  /**
   * Shutdown has begun: workers may exit from now on (a terminal's Ctrl+C
   * signals them directly) without being reported or replaced.
   */
  expectExit(): void {
    this.#stopping = true;
  }

  /** Idempotent: closes every worker (and so every router) and stops replacing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#replacementTimers) clearTimeout(timer);
    this.#replacementTimers.clear();
    for (const worker of this.#workers.keys()) worker.close();
    this.#workers.clear();
  }

  #leastLoaded(): Worker {
    let best: Worker | undefined;
    let bestLoad = Infinity;
    for (const [worker, routers] of this.#workers) {
      if (worker.closed || worker.died) continue;
      const load = routers.size + (this.#pending.get(worker) ?? 0);
      if (load < bestLoad) {
        best = worker;
        bestLoad = load;
      }
    }
    if (!best) throw new MediaUnavailableError();
    return best;
  }

  async #spawn(): Promise<Worker> {
    const worker = await mediasoup.createWorker({ logLevel: this.#options.logLevel });
    if (this.#closed) {
      worker.close();
      throw new MediaUnavailableError('worker pool is closed');
    }
    this.#workers.set(worker, new Set());
    detachFromProcessSignals(worker);
    worker.on('died', (error) => this.#onDied(worker, error));
    this.#log.info({ pid: worker.pid }, 'mediasoup worker started');
    return worker;
  }

  #onDied(worker: Worker, error: Error): void {
    this.#workers.delete(worker);
    if (this.#closed) return;
    if (this.#stopping) {
      this.#log.info({ pid: worker.pid }, 'mediasoup worker exited during shutdown');
      return;
    }
    this.#log.error({ pid: worker.pid, err: { message: error.message } }, 'mediasoup worker died');
    this.#options.onWorkerDeath?.();
    this.events.emit('workerdied', { pid: worker.pid, error });
    this.#scheduleReplacement(this.#options.replaceDelayMs ?? 200);
  }

  #scheduleReplacement(delayMs: number): void {
    const timer = setTimeout(() => {
      this.#replacementTimers.delete(timer);
      if (this.#closed) return;
      this.#spawn().then(
        (w) => this.events.emit('workeradded', { pid: w.pid }),
        (err: unknown) => {
          if (this.#closed) return;
          this.#log.error({ err: { message: (err as Error).message } }, 'replacing mediasoup worker failed');
          this.#scheduleReplacement(Math.min(delayMs * 2, 30_000));
        },
      );
    }, delayMs);
    this.#replacementTimers.add(timer);
  }
}

/**
 * mediasoup closes every worker on the Node process's first SIGINT/SIGTERM
 * (a `process.once` listener per worker). Huizhen shuts down in a fixed
 * order instead (rooms end and recordings finalise before media stops), so
 * the pool closes its workers itself, in the `stop-media` phase.
 */
function detachFromProcessSignals(worker: Worker): void {
  const onSignal = (worker as unknown as { onSignal?: unknown }).onSignal;
  if (typeof onSignal === 'function') {
    process.removeListener('SIGINT', onSignal as (...args: unknown[]) => void);
    process.removeListener('SIGTERM', onSignal as (...args: unknown[]) => void);
  }
}

/** Resident memory from /proc/<pid>/status (Linux); null elsewhere. */
async function currentRssBytes(pid: number): Promise<number | null> {
  try {
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}
