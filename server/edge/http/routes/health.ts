/**
 * Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the
 * database, the object store and the media workers all answer, and the
 * server is not shutting down). Load balancers route on readiness;
 * orchestrators restart on liveness.
 */
import { Router } from 'express';
import type { Logger } from 'pino';
import { HuizhenError } from '../../../errors.ts';

export interface ReadinessProbe {
  name: string;
  /** Resolves with details when healthy; rejects with the reason when not. */
  check(): Promise<Record<string, unknown> | void>;
}

export interface HealthDeps {
  probes: ReadinessProbe[];
  isShuttingDown(): boolean;
  version: string;
  startedAt: Date;
  log: Logger;
}


interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
  [detail: string]: unknown;
}

export function healthRoutes(deps: HealthDeps): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({
      status: 'ok',
      version: deps.version,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
    });
  });

  // Concurrent requests share one run of the probes, so a flood of /readyz
  // calls cannot be turned into a flood of database and storage requests.
  let inflight: Promise<Array<[string, ProbeResult]>> | undefined;
  const lastOk = new Map<string, boolean>();

  const runProbes = () =>
    Promise.all(
      deps.probes.map(async (probe): Promise<[string, ProbeResult]> => {
        const started = performance.now();
        try {
          const details = (await probe.check()) ?? {};
          if (lastOk.get(probe.name) === false) deps.log.info({ check: probe.name }, 'readiness check recovered');
          lastOk.set(probe.name, true);
          return [probe.name, { ok: true, latencyMs: elapsed(started), ...details }];
        } catch (err) {
          // Full detail (addresses, user names) goes to the log once per
          // change; the unauthenticated answer says only what failed.
          if (lastOk.get(probe.name) !== false) {
            const cause = err instanceof HuizhenError && err.cause instanceof Error ? err.cause : err;
            deps.log.warn({ check: probe.name, err: { message: (cause as Error).message } }, 'readiness check failing');
          }
          lastOk.set(probe.name, false);
          const error = err instanceof HuizhenError ? err.message : 'unavailable';
          return [probe.name, { ok: false, latencyMs: elapsed(started), error }];
        }
      }),
    );

  router.get('/readyz', async (_req, res) => {
    inflight ??= runProbes().finally(() => {
      inflight = undefined;
    });
    const entries = await inflight;
    const checks = Object.fromEntries(entries);
    const shuttingDown = deps.isShuttingDown();
    const ready = !shuttingDown && entries.every(([, r]) => r.ok);
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : shuttingDown ? 'shutting_down' : 'not_ready',
      checks,
    });
  });

  return router;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
