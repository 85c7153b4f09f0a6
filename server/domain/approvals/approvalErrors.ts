/**
 * Errors of the playback approval flow, each with its own code: the state
 * of a request does not allow the step (409), or the person may not take it
 * (403), or the grant does not allow playing (403), or a play session's
 * media request lacks what binds it to the viewer (403) or a byte range (400).
 */
import { HuizhenError } from '../../errors.ts';
import type { ErrorCode } from '../../protocol/errorCodes.ts';

export type ApprovalErrorCode = Extract<
  ErrorCode,
  | 'REQUEST_DECIDED'
  | 'REQUEST_EXPIRED'
  | 'REQUEST_REVOKED'
  | 'TIER_OUT_OF_ORDER'
  | 'SEPARATION_OF_DUTIES'
  | 'NOT_TIER_APPROVER'
  | 'GRANT_NOT_ACTIVE'
  | 'GRANT_EXPIRED'
  | 'GRANT_REVOKED'
  | 'GRANT_EXHAUSTED'
  | 'PLAY_COOKIE_REQUIRED'
  | 'RANGE_REQUIRED'
  | 'BREAK_GLASS_OPEN'
  | 'INVALID_STATE'
>;

const STATUS: Record<ApprovalErrorCode, number> = {
  REQUEST_DECIDED: 409,
  REQUEST_EXPIRED: 409,
  REQUEST_REVOKED: 409,
  TIER_OUT_OF_ORDER: 409,
  INVALID_STATE: 409,
  SEPARATION_OF_DUTIES: 403,
  NOT_TIER_APPROVER: 403,
  GRANT_NOT_ACTIVE: 403,
  GRANT_EXPIRED: 403,
  GRANT_REVOKED: 403,
  GRANT_EXHAUSTED: 403,
  PLAY_COOKIE_REQUIRED: 403,
  RANGE_REQUIRED: 400,
  BREAK_GLASS_OPEN: 409,
};

export class ApprovalError extends HuizhenError {
  constructor(code: ApprovalErrorCode, message: string) {
    super(code, STATUS[code], message);
  }
}
