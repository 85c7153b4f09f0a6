/**
 * The typed socket.io client: `request('selftest:start', {})` resolves with
 * the ack's data or rejects with a SignalingError carrying the error code.
 */
import { io, type Socket } from 'socket.io-client';
import type { Ack } from '../../server/protocol/ack.ts';
import type { ErrorBody } from '../../server/protocol/errorCodes.ts';
import type {
  ClientToServerEvents,
  RequestName,
  RequestPayload,
  ResponseData,
  ServerToClientEvents,
} from '../../server/protocol/socketEvents.ts';

export type HuizhenClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export class SignalingError extends Error {
  readonly body: ErrorBody;

  constructor(body: ErrorBody) {
    super(body.message);
    this.body = body;
  }
}

/**
 * Connects to the page's own server (the entry: one node, or the load
 * balancer in front of several), or with `nodeUrl` to one node of a cluster
 * directly (its signaling is at `<nodeUrl>/socket.io`, e.g.
 * https://consult.hospital/node/n2/socket.io behind the load balancer).
 */
export function connect(token: string, nodeUrl?: string): HuizhenClientSocket {
  // Its own connection manager: a session that moves between nodes must not share one.
  const options = { auth: { token }, transports: ['websocket'], reconnectionDelayMax: 5000, forceNew: true };
  if (!nodeUrl) return io(options);
  const url = new URL(nodeUrl);
  return io(url.origin, { ...options, path: `${url.pathname.replace(/\/+$/, '')}/socket.io` });
}

/** Resolves once connected; rejects with the handshake's coded error. */
export function whenConnected(socket: HuizhenClientSocket): Promise<void> {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err: Error & { data?: ErrorBody }) => {
      reject(new SignalingError(err.data ?? { code: 'SERVICE_UNAVAILABLE', message: err.message }));
    });
  });
}

export async function request<K extends RequestName>(
  socket: HuizhenClientSocket,
  name: K,
  payload: RequestPayload<K>,
  timeoutMs = 10_000,
): Promise<ResponseData<K>> {
  // socket.io's emitWithAck cannot follow a generic event name; the
  // signature below is exactly ClientToServerEvents[K]'s.
  const withTimeout = socket.timeout(timeoutMs) as unknown as {
    emitWithAck(event: K, payload: RequestPayload<K>): Promise<Ack<ResponseData<K>>>;
  };
  let ack: Ack<ResponseData<K>>;
  try {
    ack = await withTimeout.emitWithAck(name, payload);
  } catch {
    throw new SignalingError({ code: 'SERVICE_UNAVAILABLE', message: `${name}: no answer from the server` });
  }
  if (!ack.ok) throw new SignalingError(ack.error);
  return ack.data;
}
