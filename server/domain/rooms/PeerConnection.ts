/**
 * How the room reaches one participant's browser. The edge implements it
 * over a socket.io connection; the domain never sees socket.io.
 */
import type { ServerToClientEvents } from '../../protocol/socketEvents.ts';

export interface PeerConnection {
  /** The connection id (logs). */
  readonly id: string;
  send<E extends keyof ServerToClientEvents>(event: E, ...args: Parameters<ServerToClientEvents[E]>): void;
}
