/**
 * The one place where errors become HTTP responses: `{ error: { code,
 * message, issues?, requestId } }` with the error's status. Unexpected
 * errors are logged in full and answered with a generic INTERNAL message.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { NotFoundError, PayloadTooLargeError, ValidationError, toHuizhenError } from '../../errors.ts';

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new NotFoundError(`No route for ${req.method} ${req.path}.`));
};

export const errorHandler: ErrorRequestHandler = (err: unknown, req, res, _next) => {
  const error = toHuizhenError(fromBodyParser(err) ?? err);
  const requestId = String(req.id);
  if (error.status >= 500) {
    req.log.error({ err: error.cause ?? error, code: error.code }, 'request failed');
  }
  if (res.headersSent) {
    // A stream was already under way; the client sees a cut connection.
    res.destroy();
    return;
  }
  res.status(error.status).json({ error: error.toBody(requestId) });
};

/** express.json() signals bad bodies with a `type` on the error. */
function fromBodyParser(err: unknown): Error | undefined {
  const type = (err as { type?: unknown } | null)?.type;
  if (type === 'entity.parse.failed') return new ValidationError('The request body is not valid JSON.');
  if (type === 'entity.too.large') return new PayloadTooLargeError();
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new ValidationError('The request body encoding is not supported.');
  }
  return undefined;
}
