/**
 * The open consultation rooms of this node, by room id. A room opens on the
 * first join and closes when its visit ends or its last participant leaves;
 * concurrent first joins share one opening.
 *
 * Where a room lives is the placement's answer (RoomPlacement): on one node
 * always here; in a cluster a room opens only on the node that holds its
 * lease, and a join that reached another node is told where to go.
 */
import type { Room, RoomDeps } from './Room.ts';
import { Room as RoomImpl } from './Room.ts';
import type { RoomCloseReason } from '../../protocol/room.ts';
import { InvalidStateError, RoomRelocatingError } from '../../errors.ts';
import type { LiveRole } from '../../protocol/roles.ts';
import { SINGLE_NODE, type NodeAddress, type RoomPlacement } from './RoomPlacement.ts';

export type RoomRegistryDeps = Omit<RoomDeps, 'roomId' | 'onClosed'> & {
  /** Runs before a newly opened room is handed out (recording attaches here). */
  onOpened?: (room: Room) => Promise<void>;
  /** Where rooms live (default: all on this node). */
  placement?: RoomPlacement;
};

/** The answer to entering a room: it is (now) open here, or lives on another node. */
export type RoomEntry = { kind: 'here'; room: Room } | { kind: 'elsewhere'; node: NodeAddress };

export class RoomRegistry {
  readonly #deps: RoomRegistryDeps;
  readonly #placement: RoomPlacement;
  readonly #rooms = new Map<string, Room>();
  readonly #opening = new Map<string, Promise<RoomEntry>>();
  #closed = false;

  constructor(deps: RoomRegistryDeps) {
    this.#deps = deps;
    this.#placement = deps.placement ?? SINGLE_NODE;
  }

  get size(): number {
    return this.#rooms.size;
  }

  get(roomId: string): Room | undefined {
    const room = this.#rooms.get(roomId);
    return room && !room.closed ? room : undefined;
  }

  /** The rooms open on this node now. */
  open(): Room[] {
    return [...this.#rooms.values()].filter((r) => !r.closed);
  }

  /** The open room, or a newly opened one; in a cluster possibly "on that node". */
  async enter(roomId: string): Promise<RoomEntry> {
    const open = this.get(roomId);
    if (open) return { kind: 'here', room: open };
    let opening = this.#opening.get(roomId);
    if (!opening) {
      opening = this.#claimAndOpen(roomId).finally(() => this.#opening.delete(roomId));
      this.#opening.set(roomId, opening);
    }
    return opening;
  }

  /** The open room, or a newly opened one, on this node (one node; tests). */
  async room(roomId: string): Promise<Room> {
    const entry = await this.enter(roomId);
    if (entry.kind !== 'here') throw new InvalidStateError(`this room lives on node ${entry.node.nodeId}`);
    return entry.room;
  }

  /**
   * Scale-out: whether a participant admitted on a node that was lost may
   * enter this room again as the same participant (its resume token is the
   * one the admission ledger holds). Always false on one node.
   */
  async mayRestore(roomId: string, resume: { peerId: string; resumeToken: string }, who: { userId: string; role: LiveRole }): Promise<boolean> {
    const ledger = this.#deps.admissions;
    return ledger ? ledger.verify(roomId, resume.peerId, who.userId, who.role, resume.resumeToken) : false;
  }

  /**
   * Scale-out: this node no longer holds the room's lease (another node
   * took it after a Redis restart, or this node is draining). The room
   * closes here with `room_moved`, and its participants rejoin it on the
   * node that holds it.
   */
  evict(roomId: string): void {
    this.#rooms.get(roomId)?.close('room_moved');
  }

  async #claimAndOpen(roomId: string): Promise<RoomEntry> {
    if (this.#closed) throw new InvalidStateError('the server is shutting down');
    const placement = await this.#placement.claim(roomId);
    if (placement.kind === 'elsewhere') return placement;
    let room: Room;
    try {
      room = await this.#open(roomId);
    } catch (err) {
      this.#placement.release(roomId);
      throw err;
    }
    // Another node took the lease while the room was opening: no second copy.
    if (!this.#placement.holds(roomId)) {
      room.close('room_moved');
      throw new RoomRelocatingError();
    }
    return { kind: 'here', room };
  }

  async #open(roomId: string): Promise<Room> {
    const { onOpened, placement: _placement, ...deps } = this.#deps;
    const room: Room = await RoomImpl.open({
      ...deps,
      roomId,
      onClosed: () => {
        if (this.#rooms.get(roomId) === room) {
          this.#rooms.delete(roomId);
          this.#placement.release(roomId);
        }
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

  /**
   * Shutdown: closes every room, telling participants why (`room_moved` when
   * a cluster node drains: they continue on another node). Idempotent.
   */
  closeAll(reason: RoomCloseReason): void {
    this.#closed = true;
    for (const room of [...this.#rooms.values()]) room.close(reason);
    this.#rooms.clear();
  }
}
