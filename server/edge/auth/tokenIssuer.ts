/**
 * Mints ES256 tokens with the server's signing key: the `token` CLI and the
 * development login page use it; later the practitioner login does.
 */
import crypto from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Role } from '../../protocol/roles.ts';
import { TOKEN_ALGORITHM } from './tokenVerifier.ts';

export interface TokenRequest {
  userId: string;
  role: Role;
  roomId?: string;
  displayName?: string;
  department?: string;
  positions?: readonly string[];
  institutionId?: string;
  /** Seconds. */
  ttlSeconds: number;
}

export interface TokenIssuerOptions {
  signingKeyPem: string;
  keyId: string;
  issuer: string;
  audience: string;
}

export interface IssuedToken {
  token: string;
  tokenId: string;
  expiresAt: number;
}

export class TokenIssuer {
  readonly #options: TokenIssuerOptions;

  constructor(options: TokenIssuerOptions) {
    this.#options = options;
  }

  issue(request: TokenRequest, now = Math.floor(Date.now() / 1000)): IssuedToken {
    const tokenId = crypto.randomUUID();
    const payload: Record<string, unknown> = { role: request.role, iat: now, nbf: now };
    if (request.roomId) payload['room'] = request.roomId;
    if (request.displayName) payload['name'] = request.displayName;
    if (request.department) payload['dept'] = request.department;
    if (request.positions && request.positions.length > 0) payload['positions'] = [...request.positions];
    if (request.institutionId) payload['inst'] = request.institutionId;
    const expiresAt = now + request.ttlSeconds;
    const token = jwt.sign({ ...payload, exp: expiresAt }, this.#options.signingKeyPem, {
      algorithm: TOKEN_ALGORITHM,
      keyid: this.#options.keyId,
      issuer: this.#options.issuer,
      audience: this.#options.audience,
      subject: request.userId,
      jwtid: tokenId,
    });
    return { token, tokenId, expiresAt };
  }
}
