import { Router } from 'express';
import type { TokenVerifier } from '../../auth/tokenVerifier.ts';
import { authenticate, identityOf } from '../authenticate.ts';

/** `GET /api/session`: who the bearer token says the caller is. */
export function sessionRoutes(verifier: TokenVerifier): Router {
  const router = Router();
  router.get('/api/session', authenticate(verifier), (req, res) => {
    const id = identityOf(req);
    res.json({
      userId: id.userId,
      role: id.role,
      displayName: id.displayName,
      roomId: id.roomId,
      expiresAt: id.expiresAt,
    });
  });
  return router;
}
