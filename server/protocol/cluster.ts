/**
 * Scale-out: notices between the nodes of a cluster (socket.io server-side
 * events over the Redis adapter). Never sent to browsers.
 */
import type { RoomCloseReason } from './room.ts';

export type ClusterNotice =
  /** Close this room wherever it is hosted (its consultation ended through REST on some node). */
  | { kind: 'room.close'; roomId: string; reason: RoomCloseReason }
  /** This playback grant stopped being usable: end its streams on every node. */
  | { kind: 'playback.grant_ended'; requestId: string; status: 'revoked' | 'expired' }
  /** A practitioner was suspended: remove them from the live rooms of their consultations, wherever hosted. */
  | { kind: 'practitioner.suspended'; userId: string };
