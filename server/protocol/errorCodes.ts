/**
 * The closed set of error codes Huizhen sends to clients, over REST and in
 * socket acks. Clients switch on these (and show a translated message for
 * each), so a code is never renamed or reused; new ones are only added.
 *
 * Shared with the browser client (`import type` / plain constants only).
 */
export const ERROR_CODES = [
  // Input
  'VALIDATION_FAILED',
  'NOT_FOUND',
  'INVALID_STATE',
  'PAYLOAD_TOO_LARGE',
  // Recording without the patient's (current) consent (409)
  'CONSENT_REQUIRED',
  // Playback approval (409: the request's state does not allow the step)
  'REQUEST_DECIDED',
  'REQUEST_EXPIRED',
  'REQUEST_REVOKED',
  'TIER_OUT_OF_ORDER',
  // Playback approval (403: this person may not take the step)
  'SEPARATION_OF_DUTIES',
  'NOT_TIER_APPROVER',
  // Playback (403: the grant does not allow playing)
  'GRANT_NOT_ACTIVE',
  'GRANT_EXPIRED',
  'GRANT_REVOKED',
  'GRANT_EXHAUSTED',
  // A play session's media without the session's cookie (403), or without a single byte range (400)
  'PLAY_COOKIE_REQUIRED',
  'RANGE_REQUIRED',
  // A second break-glass access by the same person to the same recording while one is open (409)
  'BREAK_GLASS_OPEN',
  // Rules of internet diagnosis
  'PRACTITIONER_NOT_VERIFIED',
  'DEPARTMENT_NOT_COVERED',
  'FOLLOW_UP_ONLY',
  'NOT_ACCEPTED',
  // A prescription is written by the practitioner seen on camera in the visit (403)
  'IN_PERSON_REQUIRED',
  // Authentication (401)
  'AUTH_TOKEN_MISSING',
  'AUTH_TOKEN_INVALID',
  'AUTH_TOKEN_EXPIRED',
  'AUTH_TOKEN_NOT_YET_VALID',
  'AUTH_TOKEN_WRONG_AUDIENCE',
  'AUTH_TOKEN_WRONG_ISSUER',
  'AUTH_CLAIMS_INVALID',
  // Authorisation (403)
  'FORBIDDEN',
  // Capacity and dependencies
  'RATE_LIMITED',
  'MEDIA_UNAVAILABLE',
  // Scale-out: the room is between nodes (its node was lost); join again in a moment (503)
  'ROOM_RELOCATING',
  'SERVICE_UNAVAILABLE',
  // Anything else: the details are in the server log under the request id.
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The error object carried by REST error bodies and failed socket acks. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** For VALIDATION_FAILED: which fields were wrong and why. */
  issues?: ValidationIssue[];
  /** Correlates with the server log (REST request id or socket connection id). */
  requestId?: string;
}

export interface ValidationIssue {
  /** Dotted path of the offending field, e.g. `rtpParameters.codecs.0.mimeType`. */
  path: string;
  message: string;
}
