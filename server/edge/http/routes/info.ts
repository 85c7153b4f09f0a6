import { Router } from 'express';

export interface PublicInfo {
  version: string;
  /** Whether `/api/dev/token` exists (development mode). */
  devLogin: boolean;
}

/** `GET /api/info`: what the browser client needs before sign-in. No secrets, no identities. */
export function infoRoutes(info: PublicInfo): Router {
  const router = Router();
  router.get('/api/info', (_req, res) => {
    res.json(info);
  });
  return router;
}
