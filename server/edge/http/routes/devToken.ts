/**
 * `POST /api/dev/token` — development only (the route does not exist in
 * production): mints a token for any role so that a developer or an
 * evaluator can try Huizhen without an identity provider. The development
 * login page uses it.
 */
import { Router } from 'express';
import { z } from 'zod';
import { ValidationError } from '../../../errors.ts';
import { ROLES } from '../../../protocol/roles.ts';
import type { TokenIssuer } from '../../auth/tokenIssuer.ts';

const id = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:@-]+$/, 'letters, digits and . _ : @ - only');

export const devTokenRequest = z.strictObject({
  role: z.enum(ROLES),
  userId: id,
  roomId: id.optional(),
  displayName: z.string().trim().min(1).max(100).optional(),
  ttlSeconds: z.int().min(60).max(24 * 3600).optional(),
  department: z.string().regex(/^[a-z][a-z0-9_]{1,39}$/, 'lower-case letters, digits and _').optional(),
  institutionId: id.optional(),
  positions: z.array(z.string().regex(/^[a-z][a-z0-9_]{1,39}$/, 'lower-case letters, digits and _')).max(10).optional(),
});

export function devTokenRoutes(issuer: TokenIssuer, defaultTtlSeconds: number): Router {
  const router = Router();
  router.post('/api/dev/token', (req, res) => {
    const parsed = devTokenRequest.safeParse(req.body ?? {});
    if (!parsed.success) {
      throw ValidationError.fromIssues('invalid token request', parsed.error.issues);
    }
    const { role, userId, roomId, displayName, ttlSeconds, department, positions, institutionId } = parsed.data;
    const issued = issuer.issue({
      role,
      userId,
      ...(roomId ? { roomId } : {}),
      ...(displayName ? { displayName } : {}),
      ...(department ? { department } : {}),
      ...(positions ? { positions } : {}),
      ...(institutionId ? { institutionId } : {}),
      ttlSeconds: ttlSeconds ?? defaultTtlSeconds,
    });
    req.log.info({ issuedFor: userId, role, tokenId: issued.tokenId }, 'development token issued');
    res.status(201).json({ token: issued.token, expiresAt: issued.expiresAt });
  });
  return router;
}
