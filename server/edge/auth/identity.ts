/**
 * Who is calling, as established from a verified token. Everything past the
 * edge works with this, never with the raw token.
 */
import { z } from 'zod';
import { ROLES, type Role } from '../../protocol/roles.ts';

export interface Identity {
  userId: string;
  role: Role;
  displayName: string | null;
  /** The consultation room the token admits to, for live roles. */
  roomId: string | null;
  /** Seconds since the epoch. */
  expiresAt: number;
  /** `jti`, to correlate logs and to revoke. */
  tokenId: string | null;
  /** The staff member's department (`dept`), as the hospital's directory says. */
  department: string | null;
  /** Positions held (`positions`), e.g. department_head; approval tiers match on them. */
  positions: readonly string[];
  /** The institution the staff member acts for (`inst`): institution administrators, coordinators. */
  institutionId: string | null;
}

const code = z.string().regex(/^[a-z][a-z0-9_]{1,39}$/, 'must be lower-case letters, digits and _');

const id = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:@-]+$/, 'must be an identifier');

/** Claims Huizhen requires in a token, after the signature has been verified. */
export const claimsSchema = z.object({
  sub: id,
  role: z.enum(ROLES),
  room: id.optional(),
  name: z.string().min(1).max(100).optional(),
  jti: z.string().min(1).max(128).optional(),
  dept: code.optional(),
  positions: z.array(code).max(10).optional(),
  inst: id.optional(),
  iat: z.number().int(),
  exp: z.number().int(),
  nbf: z.number().int().optional(),
});

export type Claims = z.infer<typeof claimsSchema>;

export function identityFromClaims(claims: Claims): Identity {
  return {
    userId: claims.sub,
    role: claims.role,
    displayName: claims.name ?? null,
    roomId: claims.room ?? null,
    expiresAt: claims.exp,
    tokenId: claims.jti ?? null,
    department: claims.dept ?? null,
    positions: claims.positions ?? [],
    institutionId: claims.inst ?? null,
  };
}
