/**
 * mediasoup reports bad input as TypeError or UnsupportedError, unknown ids
 * as NotFoundError, and calls on a dead worker as WorkerClosedError. Calls
 * with parameters from a client go through `mediaCall` so those become coded
 * Huizhen errors; anything else stays an internal error.
 */
import { NotFoundError as MsNotFoundError, UnsupportedError, WorkerClosedError } from 'mediasoup/errors';
import { MediaUnavailableError, NotFoundError, ValidationError } from '../errors.ts';

export async function mediaCall<T>(what: string, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UnsupportedError) {
      throw new ValidationError(`${what}: not supported by this server (${err.message})`);
    }
    if (err instanceof MsNotFoundError) {
      throw new NotFoundError(`${what}: ${err.message}`);
    }
    if (err instanceof WorkerClosedError) {
      throw new MediaUnavailableError(`${what}: the media worker is gone; try again`);
    }
    if (err instanceof TypeError) {
      throw new ValidationError(`${what}: ${err.message}`);
    }
    throw err;
  }
}
