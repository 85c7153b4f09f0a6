/**
 * Verifies bearer tokens (REST `Authorization` header and the socket.io
 * handshake alike). One asymmetric algorithm is pinned (ES256), so neither
 * `alg: none` nor an HS256 token "signed" with the public key can pass;
 * `iss`, `aud`, `exp` and `nbf` are checked with a small clock tolerance.
 *
 * Errors say what was wrong with the token, never what the token was.
 */
import jwt from 'jsonwebtoken';
import { AuthError } from '../../errors.ts';
import { claimsSchema, identityFromClaims, type Identity } from './identity.ts';

export interface TokenVerifierOptions {
  verifyKeyPem: string;
  issuer: string;
  audience: string;
  clockToleranceSeconds: number;
  /** Tokens may not live longer than this (exp − iat), in seconds. */
  maxLifetimeSeconds?: number;
}

export const TOKEN_ALGORITHM = 'ES256' as const;
const MAX_TOKEN_LENGTH = 8192;

export class TokenVerifier {
  readonly #options: TokenVerifierOptions;

  constructor(options: TokenVerifierOptions) {
    this.#options = options;
  }

  verify(token: unknown): Identity {
    if (typeof token !== 'string' || token.length === 0) {
      throw new AuthError('AUTH_TOKEN_MISSING', 'A bearer token is required.');
    }
    if (token.length > MAX_TOKEN_LENGTH) {
      throw new AuthError('AUTH_TOKEN_INVALID', 'The token is malformed.');
    }

    let payload: unknown;
    try {
      payload = jwt.verify(token, this.#options.verifyKeyPem, {
        algorithms: [TOKEN_ALGORITHM],
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        clockTolerance: this.#options.clockToleranceSeconds,
      });
    } catch (err) {
      throw mapJwtError(err);
    }

    const parsed = claimsSchema.safeParse(payload);
    if (!parsed.success) {
      const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(payload)'))];
      throw new AuthError('AUTH_CLAIMS_INVALID', `The token's claims are invalid: ${fields.join(', ')}.`);
    }
    const maxLifetime = this.#options.maxLifetimeSeconds ?? 24 * 3600;
    if (parsed.data.exp - parsed.data.iat > maxLifetime) {
      throw new AuthError('AUTH_CLAIMS_INVALID', 'The token lives longer than this server allows.');
    }
    return identityFromClaims(parsed.data);
  }
}

function mapJwtError(err: unknown): AuthError {
  if (err instanceof jwt.TokenExpiredError) {
    return new AuthError('AUTH_TOKEN_EXPIRED', 'The token has expired.');
  }
  if (err instanceof jwt.NotBeforeError) {
    return new AuthError('AUTH_TOKEN_NOT_YET_VALID', 'The token is not valid yet.');
  }
  if (err instanceof jwt.JsonWebTokenError) {
    if (err.message.startsWith('jwt audience invalid')) {
      return new AuthError('AUTH_TOKEN_WRONG_AUDIENCE', 'The token was issued for another service.');
    }
    if (err.message.startsWith('jwt issuer invalid')) {
      return new AuthError('AUTH_TOKEN_WRONG_ISSUER', 'The token was issued by an unknown issuer.');
    }
    return new AuthError('AUTH_TOKEN_INVALID', 'The token signature or format is invalid.');
  }
  return new AuthError('AUTH_TOKEN_INVALID', 'The token could not be verified.');
}

/** The token from an `Authorization: Bearer …` header, if any. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
