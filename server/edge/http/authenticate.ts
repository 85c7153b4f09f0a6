/**
 * REST authentication: `Authorization: Bearer <token>`, verified by the same
 * TokenVerifier as the socket handshake. Sets `req.identity`.
 */
import type { RequestHandler } from 'express';
import type { Identity } from '../auth/identity.ts';
import { bearerToken, type TokenVerifier } from '../auth/tokenVerifier.ts';

declare module 'express-serve-static-core' {
  interface Request {
    identity?: Identity;
  }
}

export function authenticate(verifier: TokenVerifier): RequestHandler {
  return (req, _res, next) => {
    req.identity = verifier.verify(bearerToken(req.headers.authorization));
    req.log = req.log.child({ userId: req.identity.userId, role: req.identity.role });
    next();
  };
}

/** The identity set by `authenticate`; use only on routes behind it. */
export function identityOf(req: { identity?: Identity }): Identity {
  if (!req.identity) throw new Error('route is missing the authenticate middleware');
  return req.identity;
}
