/**
 * Where a consultation room lives. On one node, always here. In a cluster
 * (domain/cluster), a room lives on exactly one node at a time, which holds
 * its lease; a client that reached another node is sent there.
 */

/** How clients reach a node directly. */
export interface NodeAddress {
  nodeId: string;
  /** https base URL of the node (its signaling is at `<url>/socket.io`). */
  url: string;
}

export type Placement = { kind: 'here' } | { kind: 'elsewhere'; node: NodeAddress };

export interface RoomPlacement {
  /**
   * Where the room is, or is to be, hosted. `here` means this node now holds
   * the room's lease and must open it (and `release` it when it closes).
   * Throws ServiceUnavailableError (`ROOM_RELOCATING`) while a room is between
   * nodes, and when the placement cannot be known (the cluster store is away).
   */
  claim(roomId: string): Promise<Placement>;
  /** This node no longer hosts the room. */
  release(roomId: string): void;
  /** Whether this node still holds the room's lease (it may have lost it while the room was opening). */
  holds(roomId: string): boolean;
}

/** One node: every room is here. */
export const SINGLE_NODE: RoomPlacement = {
  claim: () => Promise.resolve({ kind: 'here' }),
  release: () => undefined,
  holds: () => true,
};
