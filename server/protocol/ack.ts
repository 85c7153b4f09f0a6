import type { ErrorBody } from './errorCodes.ts';

/**
 * Every socket.io request is acknowledged with exactly one of these.
 * `ok` is the discriminant: clients narrow on it before reading `data`.
 */
export type Ack<T> = { ok: true; data: T } | { ok: false; error: ErrorBody };

/** The acknowledgement callback a request handler receives. */
export type AckCallback<T> = (ack: Ack<T>) => void;
