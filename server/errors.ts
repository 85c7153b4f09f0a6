/**
 * Error classes for every layer. Each carries a code from the closed set in
 * protocol/errorCodes.ts and the HTTP status it maps to; the edge turns them
 * into REST error bodies and socket acks in one place each
 * (edge/http/errorHandler.ts, edge/socket/requestRouter.ts).
 *
 * Messages are safe to show to the caller: never put a token, key or patient
 * detail in one.
 */
import type { ErrorBody, ErrorCode, ValidationIssue } from './protocol/errorCodes.ts';

export class HuizhenError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }

  toBody(requestId?: string): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (requestId) body.requestId = requestId;
    return body;
  }
}

export class ValidationError extends HuizhenError {
  readonly issues: ValidationIssue[];

  constructor(message: string, issues: ValidationIssue[] = []) {
    super('VALIDATION_FAILED', 400, message);
    this.issues = issues;
  }

  /** From a schema library's issues (zod's shape), naming each offending field. */
  static fromIssues(
    message: string,
    issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
  ): ValidationError {
    return new ValidationError(
      message,
      issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
  }

  override toBody(requestId?: string): ErrorBody {
    return { ...super.toBody(requestId), issues: this.issues };
  }
}

export type AuthErrorCode = Extract<ErrorCode, `AUTH_${string}`>;

export class AuthError extends HuizhenError {
  constructor(code: AuthErrorCode, message: string, options?: ErrorOptions) {
    super(code, 401, message, options);
  }
}

export class ForbiddenError extends HuizhenError {
  constructor(message = 'You are not allowed to do this.') {
    super('FORBIDDEN', 403, message);
  }
}

export class NotFoundError extends HuizhenError {
  constructor(message = 'Not found.') {
    super('NOT_FOUND', 404, message);
  }
}

export class InvalidStateError extends HuizhenError {
  constructor(message: string) {
    super('INVALID_STATE', 409, message);
  }
}

/** Recording needs the patient's consent for the current consent text. */
export class ConsentRequiredError extends HuizhenError {
  constructor(message: string) {
    super('CONSENT_REQUIRED', 409, message);
  }
}

export class PayloadTooLargeError extends HuizhenError {
  constructor(message = 'The request body is too large.') {
    super('PAYLOAD_TOO_LARGE', 413, message);
  }
}

export class RateLimitedError extends HuizhenError {
  constructor(message = 'Too many requests; try again shortly.') {
    super('RATE_LIMITED', 429, message);
  }
}

export class MediaUnavailableError extends HuizhenError {
  constructor(message = 'No media worker is available right now.') {
    super('MEDIA_UNAVAILABLE', 503, message);
  }
}

/** The room's node was lost and its lease has not lapsed yet: join again in a moment. */
export class RoomRelocatingError extends HuizhenError {
  constructor(message = 'This consultation room is moving to another server; joining again in a moment.') {
    super('ROOM_RELOCATING', 503, message);
  }
}

export class ServiceUnavailableError extends HuizhenError {
  constructor(message: string, options?: ErrorOptions) {
    super('SERVICE_UNAVAILABLE', 503, message, options);
  }
}

export class InternalError extends HuizhenError {
  constructor(message = 'Internal server error.', options?: ErrorOptions) {
    super('INTERNAL', 500, message, options);
  }
}

/**
 * Any thrown value as a HuizhenError. Unknown errors become INTERNAL with a
 * generic message so that nothing from inside (SQL, paths, stack) leaks to
 * the caller; the original is kept as `cause` for the log.
 */
export function toHuizhenError(err: unknown): HuizhenError {
  if (err instanceof HuizhenError) return err;
  return new InternalError(undefined, { cause: err });
}
