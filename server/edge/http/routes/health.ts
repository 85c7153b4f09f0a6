/**
 * Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the
 * database, the object store and the media workers all answer, and the
 * server is not shutting down). Load balancers route on readiness;
 * orchestrators restart on liveness.
 */
import { Router } from 'express';

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

  router.get('/readyz', async (_req, res) => {
    const entries = await Promise.all(
      deps.probes.map(async (probe): Promise<[string, ProbeResult]> => {
        const started = performance.now();
        try {
          const details = (await probe.check()) ?? {};
          return [probe.name, { ok: true, latencyMs: elapsed(started), ...details }];
        } catch (err) {
          // The reason is about our own dependency, never about a caller.
          return [probe.name, { ok: false, latencyMs: elapsed(started), error: (err as Error).message }];
        }
      }),
    );
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
