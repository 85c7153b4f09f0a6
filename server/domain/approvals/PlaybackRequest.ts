/**
 * The life of a playback request, as a pure state machine:
 *
 *   pending ──approve tier 1…n in order──▶ granted ──▶ expired (window over)
 *      │                                     └──────▶ revoked
 *      ├──deny (any tier)──▶ denied
 *      ├──time passes──────▶ expired
 *      └──withdraw/revoke──▶ revoked
 *
 * A break-glass access starts granted. Every illegal step throws an
 * ApprovalError with its own code; the service applies the resulting state
 * to the database together with its audit entry.
 */
import { ApprovalError } from './approvalErrors.ts';

export interface TierSnapshot {
  id: string;
  label: { 'zh-CN': string; en: string };
  position: string;
  sameDepartment: boolean;
}

export type RequestStatus = 'pending' | 'granted' | 'denied' | 'expired' | 'revoked';

export type RequestState =
  | { status: 'pending'; nextTier: number; tierCount: number; expiresAt: Date }
  | { status: 'granted'; grantExpiresAt: Date; playsUsed: number; maxPlays: number }
  | { status: 'denied' }
  | { status: 'expired' }
  | { status: 'revoked' };

export type RequestCommand =
  | { type: 'approve'; tierIndex: number; grantExpiresAt: Date; maxPlays: number }
  | { type: 'deny'; tierIndex: number }
  | { type: 'expire' }
  | { type: 'revoke' }
  | { type: 'play' };

/** The state as it stands at `now`: time-outs take effect even before a sweep has recorded them. */
export function effectiveState(state: RequestState, now: Date): RequestState {
  switch (state.status) {
    case 'pending':
      return state.expiresAt.getTime() <= now.getTime() ? { status: 'expired' } : state;
    case 'granted':
      return state.grantExpiresAt.getTime() <= now.getTime() ? { status: 'expired' } : state;
    case 'denied':
    case 'expired':
    case 'revoked':
      return state;
    default:
      return assertNever(state);
  }
}

/** The next state, or an ApprovalError naming why the step is not allowed. */
export function transition(current: RequestState, command: RequestCommand, now: Date): RequestState {
  const state = effectiveState(current, now);
  switch (command.type) {
    case 'approve':
    case 'deny': {
      if (state.status !== 'pending') throw notPending(state.status, command.type);
      if (command.tierIndex !== state.nextTier) {
        throw new ApprovalError(
          'TIER_OUT_OF_ORDER',
          command.tierIndex > state.nextTier
            ? `tier ${command.tierIndex + 1} cannot decide before tier ${state.nextTier + 1} has approved`
            : `tier ${command.tierIndex + 1} has already decided`,
        );
      }
      if (command.type === 'deny') return { status: 'denied' };
      if (state.nextTier + 1 < state.tierCount) return { ...state, nextTier: state.nextTier + 1 };
      return { status: 'granted', grantExpiresAt: command.grantExpiresAt, playsUsed: 0, maxPlays: command.maxPlays };
    }
    case 'expire':
      if (state.status === 'expired') return state;
      if (state.status === 'pending' || state.status === 'granted') throw new ApprovalError('INVALID_STATE', 'the request has not run out yet');
      throw notPending(state.status, 'expire');
    case 'revoke':
      if (state.status === 'pending' || state.status === 'granted') return { status: 'revoked' };
      throw notPending(state.status, 'revoke');
    case 'play':
      switch (state.status) {
        case 'granted':
          if (state.playsUsed >= state.maxPlays) throw new ApprovalError('GRANT_EXHAUSTED', `all ${state.maxPlays} plays of this grant have been used`);
          return { ...state, playsUsed: state.playsUsed + 1 };
        case 'pending':
          throw new ApprovalError('GRANT_NOT_ACTIVE', 'the request is still waiting for approval');
        case 'denied':
          throw new ApprovalError('GRANT_NOT_ACTIVE', 'the request was denied');
        case 'expired':
          throw new ApprovalError('GRANT_EXPIRED', 'the grant has expired');
        case 'revoked':
          throw new ApprovalError('GRANT_REVOKED', 'the grant was revoked');
        default:
          return assertNever(state);
      }
    default:
      return assertNever(command);
  }
}

function notPending(status: Exclude<RequestStatus, 'pending'>, what: string): ApprovalError {
  switch (status) {
    case 'granted':
      return new ApprovalError('REQUEST_DECIDED', `the request is already granted; it cannot ${what}`);
    case 'denied':
      return new ApprovalError('REQUEST_DECIDED', `the request was denied; it cannot ${what}`);
    case 'expired':
      return new ApprovalError('REQUEST_EXPIRED', `the request has expired; it cannot ${what}`);
    case 'revoked':
      return new ApprovalError('REQUEST_REVOKED', `the request was revoked; it cannot ${what}`);
    default:
      return assertNever(status);
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected ${JSON.stringify(value)}`);
}
