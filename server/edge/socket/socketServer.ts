/**
 * socket.io signaling on the HTTPS server. The handshake must carry a valid
 * token (`auth: { token }`); a refused handshake reaches the client as
 * `connect_error` with `data: { code, message }`. Each connection gets an id
 * used in every log line about it, and is closed with reason
 * `token_expired` when its token runs out unless the client refreshed it
 * (SessionClock).
 */
import crypto from 'node:crypto';
import type { Server as HttpsServer } from 'node:https';
import { Server } from 'socket.io';
import type { Logger } from 'pino';
import { toHuizhenError } from '../../errors.ts';
import type { Metrics } from '../../observability/metrics.ts';
import type {
  ClientToServerEvents,
  DisconnectReason,
  InterServerEvents,
  ServerToClientEvents,
} from '../../protocol/socketEvents.ts';
import type { TokenVerifier } from '../auth/tokenVerifier.ts';
import { bindRequests, type HuizhenSocket, type RequestHandlers, type SocketData } from './requestRouter.ts';
import { requestSchemas } from './schemas.ts';
import { SessionClock } from './SessionClock.ts';

export type HuizhenIo = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** What the request handlers of one connection share. */
export interface ConnectionContext {
  socket: HuizhenSocket;
  log: Logger;
  clock: SessionClock;
}

export interface SocketServerDeps {
  verifier: TokenVerifier;
  log: Logger;
  metrics: Metrics;
  /** Builds the request handlers of one connection. */
  handlersFor(connection: ConnectionContext): RequestHandlers;
}

export interface SocketServer {
  io: HuizhenIo;
  /** Tells every client why, then disconnects them. Idempotent. */
  close(reason: DisconnectReason): Promise<void>;
}

/** Largest message a client may send (SDP-sized payloads, never media). */
const MAX_MESSAGE_BYTES = 256 * 1024;

export function createSocketServer(httpsServer: HttpsServer, deps: SocketServerDeps): SocketServer {
  const io: HuizhenIo = new Server(httpsServer, {
    serveClient: false,
    maxHttpBufferSize: MAX_MESSAGE_BYTES,
    pingInterval: 10_000,
    pingTimeout: 10_000,
  });

  io.use((socket, next) => {
    const connectionId = `c-${crypto.randomUUID()}`;
    try {
      const token: unknown = (socket.handshake.auth as Record<string, unknown> | undefined)?.['token'];
      socket.data.identity = deps.verifier.verify(token);
      socket.data.connectionId = connectionId;
      next();
    } catch (err) {
      const error = toHuizhenError(err);
      deps.log.info({ connectionId, code: error.code }, 'socket handshake refused');
      const refusal = new Error(error.message) as Error & { data: unknown };
      refusal.data = error.toBody(connectionId);
      next(refusal);
    }
  });

  io.on('connection', (socket) => {
    const { identity, connectionId } = socket.data;
    const log = deps.log.child({ connectionId, userId: identity.userId, role: identity.role });
    deps.metrics.socketConnections.inc();
    log.info('socket connected');

    const clock = new SessionClock(identity);
    clock.on('expiring', (expiresAt) => socket.emit('session:expiring', { expiresAt }));

    socket.on('disconnect', (reason) => {
      clock.stop();
      deps.metrics.socketConnections.dec();
      log.info({ reason }, 'socket disconnected');
    });

    bindRequests(socket, requestSchemas, deps.handlersFor({ socket, log, clock }), log);
    // After the handlers' own `expired` listeners (the room lets the
    // participant go first), the connection ends.
    clock.on('expired', () => {
      log.info('token expired; closing the connection');
      closeSocket(socket, 'token_expired');
    });
  });

  let closing: Promise<void> | undefined;
  return {
    io,
    close(reason) {
      closing ??= (async () => {
        for (const socket of io.of('/').sockets.values()) closeSocket(socket, reason);
        await io.close();
      })();
      return closing;
    },
  };
}

function closeSocket(socket: HuizhenSocket, reason: DisconnectReason): void {
  if (socket.disconnected) return;
  socket.emit('session:closing', { reason });
  socket.disconnect(true);
}
