/**
 * Tokens for tests, good and bad. Good ones are signed with the server's
 * real signing key; bad ones are forged the way an attacker would.
 */
import crypto from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Role } from '../../server/protocol/roles.ts';

export interface SigningContext {
  signingKeyPem: string;
  verifyKeyPem: string;
  issuer: string;
  audience: string;
}

export interface ClaimOverrides {
  sub?: string;
  role?: Role | string;
  room?: string;
  name?: string;
  iss?: string;
  aud?: string;
  iat?: number;
  nbf?: number;
  exp?: number;
  [claim: string]: unknown;
}

const now = () => Math.floor(Date.now() / 1000);

/** Signs with a running server's own (generated) token key. */
export function signingContextOf(server: {
  identity: { tokens: { signingKeyPem: string | null; verifyKeyPem: string } };
  config: { auth: { issuer: string; audience: string } };
}): SigningContext {
  const keys = server.identity.tokens;
  if (!keys.signingKeyPem) throw new Error('the server has no signing key');
  return { signingKeyPem: keys.signingKeyPem, verifyKeyPem: keys.verifyKeyPem, issuer: server.config.auth.issuer, audience: server.config.auth.audience };
}

export function claims(ctx: SigningContext, overrides: ClaimOverrides = {}): Record<string, unknown> {
  const t = now();
  return {
    sub: 'dr-wang',
    role: 'host',
    room: 'room-1',
    iss: ctx.issuer,
    aud: ctx.audience,
    iat: t,
    nbf: t,
    exp: t + 600,
    jti: crypto.randomUUID(),
    ...overrides,
  };
}

export function signToken(ctx: SigningContext, overrides: ClaimOverrides = {}, key = ctx.signingKeyPem): string {
  return jwt.sign(claims(ctx, overrides), key, { algorithm: 'ES256' });
}

const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** The forged and broken tokens every authenticated entry point must refuse. */
export function badTokens(ctx: SigningContext): Array<{ what: string; token: string; code: string }> {
  const t = now();
  const valid = signToken(ctx);
  const [header, payload, signature] = valid.split('.') as [string, string, string];
  // Flip one bit in the middle of the signature.
  const sig = Buffer.from(signature, 'base64url');
  sig[10] = (sig[10] ?? 0) ^ 0x01;
  const otherKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const hs256Header = b64url({ alg: 'HS256', typ: 'JWT' });
  const hs256Body = b64url(claims(ctx));
  const hs256Sig = crypto.createHmac('sha256', ctx.verifyKeyPem).update(`${hs256Header}.${hs256Body}`).digest('base64url');

  return [
    { what: 'an expired token', token: signToken(ctx, { iat: t - 3600, nbf: t - 3600, exp: t - 120 }), code: 'AUTH_TOKEN_EXPIRED' },
    { what: 'a token that is not valid yet', token: signToken(ctx, { nbf: t + 300 }), code: 'AUTH_TOKEN_NOT_YET_VALID' },
    { what: 'a token for another audience', token: signToken(ctx, { aud: 'some-other-service' }), code: 'AUTH_TOKEN_WRONG_AUDIENCE' },
    { what: 'a token from another issuer', token: signToken(ctx, { iss: 'evil-idp' }), code: 'AUTH_TOKEN_WRONG_ISSUER' },
    { what: 'an unsigned token (alg none)', token: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims(ctx))}.`, code: 'AUTH_TOKEN_INVALID' },
    { what: 'an HS256 token signed with the public key', token: `${hs256Header}.${hs256Body}.${hs256Sig}`, code: 'AUTH_TOKEN_INVALID' },
    { what: 'a token with a tampered signature', token: `${header}.${payload}.${sig.toString('base64url')}`, code: 'AUTH_TOKEN_INVALID' },
    { what: 'a token with a tampered payload', token: `${header}.${b64url(claims(ctx, { role: 'expert' }))}.${signature}`, code: 'AUTH_TOKEN_INVALID' },
    { what: 'a token signed by an unknown key', token: signToken(ctx, {}, otherKey), code: 'AUTH_TOKEN_INVALID' },
    { what: 'a token with an unknown role', token: signToken(ctx, { role: 'superuser' }), code: 'AUTH_CLAIMS_INVALID' },
    { what: 'a token that never expires', token: signToken(ctx, { exp: t + 30 * 24 * 3600 }), code: 'AUTH_CLAIMS_INVALID' },
    { what: 'a string that is not a token', token: 'not-a-jwt', code: 'AUTH_TOKEN_INVALID' },
  ];
}
