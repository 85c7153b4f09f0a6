import { Router } from 'express';
import type { Metrics } from '../../../observability/metrics.ts';

/** Prometheus exposition of process, HTTP, signaling and mediasoup worker metrics. */
export function metricsRoutes(metrics: Metrics): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    const body = await metrics.registry.metrics();
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(body);
  });
  return router;
}
