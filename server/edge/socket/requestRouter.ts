/**
 * Binds typed request handlers to a socket: validates each payload with its
 * zod schema, runs the handler, and acknowledges with exactly one
 * `{ ok: true, data } | { ok: false, error }`. A handler that throws never
 * takes the process or the connection down; unexpected errors are logged
 * with the connection id and answered as INTERNAL.
 */
import type { Socket } from 'socket.io';
import type { z } from 'zod';
import type { Logger } from 'pino';
import { ValidationError, toHuizhenError } from '../../errors.ts';
import type { Ack } from '../../protocol/ack.ts';
import type {
  ClientToServerEvents,
  InterServerEvents,
  RequestName,
  RequestPayload,
  ResponseData,
  ServerToClientEvents,
} from '../../protocol/socketEvents.ts';
import type { Identity } from '../auth/identity.ts';

export interface SocketData {
  identity: Identity;
  connectionId: string;
}

export type HuizhenSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export type RequestHandler<K extends RequestName> = (payload: RequestPayload<K>) => Promise<ResponseData<K>>;

/** One handler per request name: the compiler refuses a missing one. */
export type RequestHandlers = { [K in RequestName]: RequestHandler<K> };

/** One validator per request name, producing exactly the payload type. */
export type RequestSchemas = { [K in RequestName]: z.ZodType<RequestPayload<K>, unknown> };

export function bindRequests(
  socket: HuizhenSocket,
  schemas: RequestSchemas,
  handlers: RequestHandlers,
  log: Logger,
): void {
  const bind = <K extends RequestName>(name: K) => bindOne(socket, name, schemas[name], handlers[name], log);
  for (const name of Object.keys(handlers) as RequestName[]) bind(name);
}

function bindOne<K extends RequestName>(
  socket: HuizhenSocket,
  name: K,
  schema: RequestSchemas[K],
  handler: RequestHandler<K>,
  log: Logger,
): void {
  // socket.io's typed `on` cannot follow a generic K; the listener's
  // signature is fixed by ClientToServerEvents[K] all the same.
  const listener = (payload: unknown, ack: unknown): void => {
    if (typeof ack !== 'function') {
      // Without an ack the client cannot learn the outcome; refuse loudly.
      log.warn({ event: name }, 'request without acknowledgement callback ignored');
      return;
    }
    const reply = ack as (a: Ack<ResponseData<K>>) => void;
    void handle(name, schema, handler, payload, log, socket.data.connectionId).then(reply);
  };
  (socket.on as (event: string, listener: (...args: unknown[]) => void) => void)(name, listener);
}

async function handle<K extends RequestName>(
  name: K,
  schema: RequestSchemas[K],
  handler: RequestHandler<K>,
  payload: unknown,
  log: Logger,
  connectionId: string,
): Promise<Ack<ResponseData<K>>> {
  try {
    const parsed = schema.safeParse(payload ?? {});
    if (!parsed.success) {
      throw ValidationError.fromIssues(`invalid ${name} request`, parsed.error.issues);
    }
    return { ok: true, data: await handler(parsed.data) };
  } catch (err) {
    const error = toHuizhenError(err);
    if (error.status >= 500) {
      log.error({ event: name, err: error.cause ?? error }, 'request failed');
    } else {
      log.debug({ event: name, code: error.code }, 'request refused');
    }
    return { ok: false, error: error.toBody(connectionId) };
  }
}
