/**
 * The open consultation rooms of this server, by room id. A room opens on
 * the first join and closes when its visit ends or its last participant
 * leaves; concurrent first joins share one opening.
 */
import type { Room, RoomDeps } from './Room.ts';
import { Room as RoomImpl } from './Room.ts';
import type { RoomCloseReason } from '../../protocol/room.ts';
import { InvalidStateError } from '../../errors.ts';

export type RoomRegistryDeps = Omit<RoomDeps, 'roomId' | 'onClosed'> & {
  /** Runs before a newly opened room is handed out (recording attaches here). */
  onOpened?: (room: Room) => Promise<void>;
};

export class RoomRegistry {
  readonly #deps: RoomRegistryDeps;
  readonly #rooms = new Map<string, Room>();
  readonly #opening = new Map<string, Promise<Room>>();
  #closed = false;

  constructor(deps: RoomRegistryDeps) {
    this.#deps = deps;
  }

  get size(): number {
    return this.#rooms.size;
  }

  get(roomId: string): Room | undefined {
    const room = this.#rooms.get(roomId);
    return room && !room.closed ? room : undefined;
  }

  /** The open room, or a newly opened one. */
  async room(roomId: string): Promise<Room> {
    const open = this.get(roomId);
    if (open) return open;
    let opening = this.#opening.get(roomId);
    if (!opening) {
      opening = this.#open(roomId).finally(() => this.#opening.delete(roomId));
      this.#opening.set(roomId, opening);
    }
    return opening;
  }

  async #open(roomId: string): Promise<Room> {
    const { onOpened, ...deps } = this.#deps;
    const room: Room = await RoomImpl.open({
      ...deps,
      roomId,
      onClosed: () => {
        if (this.#rooms.get(roomId) === room) this.#rooms.delete(roomId);
      },
    });
    try {
      await onOpened?.(room);
    } catch (err) {
      room.close('server_shutdown');
      throw err;
    }
    if (this.#closed) {
      room.close('server_shutdown');
      throw new InvalidStateError('the server is shutting down');
    }
    this.#rooms.set(roomId, room);
    return room;
  }

  /** Shutdown: closes every room, telling participants why. Idempotent. */
  closeAll(reason: RoomCloseReason): void {
    this.#closed = true;
    for (const room of [...this.#rooms.values()]) room.close(reason);
    this.#rooms.clear();
  }
}
