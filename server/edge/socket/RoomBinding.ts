/**
 * Which room and participant one connection speaks for. Set by `room:join`
 * and checked on every room request: the participant must still be in the
 * room and still be attached to this very connection (after a resume on
 * another connection, this one speaks for nobody).
 */
import { InvalidStateError } from '../../errors.ts';
import type { PeerConnection } from '../../domain/rooms/PeerConnection.ts';
import type { Room } from '../../domain/rooms/Room.ts';
import type { ServerToClientEvents } from '../../protocol/socketEvents.ts';
import type { HuizhenSocket } from './requestRouter.ts';

export interface Bound {
  room: Room;
  peerId: string;
}

export class RoomBinding {
  readonly connection: PeerConnection;
  #bound: Bound | null = null;

  constructor(socket: HuizhenSocket) {
    this.connection = {
      id: socket.data.connectionId,
      send: (event, ...args) => {
        (socket.emit as (e: keyof ServerToClientEvents, ...a: unknown[]) => boolean)(event, ...args);
      },
    };
  }

  set(bound: Bound | null): void {
    this.#bound = bound;
  }

  /** The binding as it is, live or not (disconnect and expiry handling). */
  get current(): Bound | null {
    return this.#bound && !this.#bound.room.closed ? this.#bound : null;
  }

  /** The room and participant of this connection, or INVALID_STATE. */
  require(): Bound {
    const bound = this.current;
    if (!bound) throw new InvalidStateError('join the room first');
    if (bound.room.participant(bound.peerId).connection !== this.connection) {
      throw new InvalidStateError('this participant continues on another connection');
    }
    return bound;
  }

  /** Whether the bound participant is still in the room or its lobby. */
  stillPresent(): boolean {
    const bound = this.current;
    if (!bound) return false;
    try {
      bound.room.participant(bound.peerId);
      return true;
    } catch {
      return false;
    }
  }
}
