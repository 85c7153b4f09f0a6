/**
 * Who may decide a tier of a playback request (or review a break-glass
 * access). Not configurable: the policy names tiers and positions; these
 * rules hold for every hospital.
 *
 * 1. The approver holds the tier's position (and, for a tier marked
 *    sameDepartment, belongs to the recording's department).
 * 2. The requester never approves their own request.
 * 3. Nobody who took part in the recorded visit approves its playback.
 * 4. One person decides at most one tier of a request.
 */
import type { BackOfficeRole, Role } from '../../protocol/roles.ts';
import { ApprovalError } from './approvalErrors.ts';
import type { TierSnapshot } from './PlaybackRequest.ts';

export interface Approver {
  userId: string;
  role: Role;
  department: string | null;
  positions: readonly string[];
}

export interface RequestFacts {
  requesterId: string;
  department: string | null;
  /** Users who took part in the recorded visit. */
  participants: ReadonlySet<string>;
  /** Who decided which tier so far. */
  decidedBy: ReadonlyArray<{ tierIndex: number; approverId: string }>;
}

const APPROVER_ROLES: readonly BackOfficeRole[] = ['approver'];

/** Holds the tier's position (and department)? */
export function holdsTier(approver: Approver, tier: TierSnapshot, department: string | null): boolean {
  if (!(APPROVER_ROLES as readonly Role[]).includes(approver.role)) return false;
  if (!approver.positions.includes(tier.position)) return false;
  if (tier.sameDepartment && (department === null || approver.department !== department)) return false;
  return true;
}

/** Throws the reason this approver may not decide `tierIndex`; returns when they may. */
export function checkMayDecide(approver: Approver, tier: TierSnapshot, tierIndex: number, facts: RequestFacts): void {
  if (!holdsTier(approver, tier, facts.department)) {
    throw new ApprovalError(
      'NOT_TIER_APPROVER',
      tier.sameDepartment
        ? `tier "${tier.label.en}" is decided by an approver holding ${tier.position} in department ${facts.department ?? '(none recorded)'}`
        : `tier "${tier.label.en}" is decided by an approver holding ${tier.position}`,
    );
  }
  const conflict = separationConflict(approver, tierIndex, facts);
  if (conflict) throw new ApprovalError('SEPARATION_OF_DUTIES', conflict.message);
}

export interface SeparationConflict {
  code: 'requester' | 'participant' | 'other_tier';
  message: string;
}

/** Why separation of duties bars this person, or null when it does not. */
export function separationConflict(approver: Pick<Approver, 'userId'>, tierIndex: number, facts: RequestFacts): SeparationConflict | null {
  if (approver.userId === facts.requesterId) return { code: 'requester', message: 'you made this request; someone else must approve it' };
  if (facts.participants.has(approver.userId)) return { code: 'participant', message: 'you took part in the recorded visit; you cannot approve its playback' };
  if (facts.decidedBy.some((d) => d.approverId === approver.userId && d.tierIndex !== tierIndex)) {
    return { code: 'other_tier', message: 'you have already decided another tier of this request; each tier needs a different person' };
  }
  return null;
}
