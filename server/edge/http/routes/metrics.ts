import crypto from 'node:crypto';
import { Router } from 'express';
import { AuthError } from '../../../errors.ts';
import type { Metrics } from '../../../observability/metrics.ts';
import { bearerToken } from '../../auth/tokenVerifier.ts';

/**
 * Prometheus exposition of process, HTTP, signaling and mediasoup worker
 * metrics; behind a bearer token when one is configured.
 */
export function metricsRoutes(metrics: Metrics, token: string | null): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    if (token !== null && !sameSecret(bearerToken(req.headers.authorization), token)) {
      throw new AuthError('AUTH_TOKEN_INVALID', 'The metrics token is missing or wrong.');
    }
    const body = await metrics.registry.metrics();
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(body);
  });
  return router;
}

function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}
