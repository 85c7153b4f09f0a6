/**
 * Graceful shutdown in a fixed order, whatever order components registered
 * in: stop accepting → end rooms (participants are told, recordings
 * finalise) → close client connections → flush uploads → stop media workers
 * → write the last audit entries and checkpoint → close storage (object store, then database).
 * Steps in one phase run together; a step that fails or hangs past its
 * timeout is logged and the sequence goes on, so one stuck component never
 * keeps the database open. `run()` is idempotent.
 */
import type { Logger } from 'pino';
import { withTimeout } from '../util/withTimeout.ts';

export const SHUTDOWN_PHASES = [
  'stop-accepting',
  'end-rooms',
  'close-connections',
  'flush-uploads',
  'stop-media',
  'flush-audit',
  'close-object-store',
  'close-database',
] as const;

export type ShutdownPhase = (typeof SHUTDOWN_PHASES)[number];

interface Step {
  phase: ShutdownPhase;
  name: string;
  run: () => Promise<void> | void;
  timeoutMs: number;
}

export interface ShutdownReport {
  /** `phase/name` of each step in the order it finished. */
  completed: string[];
  failed: Array<{ step: string; error: string }>;
}

export class ShutdownSequence {
  readonly #steps: Step[] = [];
  readonly #log: Logger;
  #running: Promise<ShutdownReport> | undefined;

  constructor(log: Logger) {
    this.#log = log.child({ component: 'shutdown' });
  }

  get started(): boolean {
    return this.#running !== undefined;
  }

  register(phase: ShutdownPhase, name: string, run: () => Promise<void> | void, timeoutMs = 15_000): void {
    this.#steps.push({ phase, name, run, timeoutMs });
  }

  run(): Promise<ShutdownReport> {
    this.#running ??= this.#runAll();
    return this.#running;
  }

  async #runAll(): Promise<ShutdownReport> {
    const report: ShutdownReport = { completed: [], failed: [] };
    for (const phase of SHUTDOWN_PHASES) {
      const steps = this.#steps.filter((s) => s.phase === phase);
      await Promise.all(
        steps.map(async (step) => {
          const label = `${phase}/${step.name}`;
          try {
            await withTimeout(Promise.resolve().then(step.run), step.timeoutMs, `${label} timed out`);
            report.completed.push(label);
            this.#log.info({ step: label }, 'shutdown step done');
          } catch (err) {
            report.failed.push({ step: label, error: (err as Error).message });
            this.#log.error({ step: label, err: { message: (err as Error).message } }, 'shutdown step failed');
          }
        }),
      );
    }
    this.#log.info({ completed: report.completed.length, failed: report.failed.length }, 'shutdown complete');
    return report;
  }
}
