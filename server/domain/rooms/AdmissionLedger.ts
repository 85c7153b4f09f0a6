/**
 * Who was admitted to a room, kept where another node can read it (scale-out
 * only). When the node hosting a room is lost, the room opens on another
 * node; a participant that presents its current resume token there enters
 * again as the same participant, without waiting in the lobby a second
 * time. Without a ledger (one node) there is nothing to restore from:
 * resume works within the room's own memory only.
 */
import type { LiveRole } from '../../protocol/roles.ts';

export interface AdmissionRecord {
  peerId: string;
  userId: string;
  role: LiveRole;
  /** The participant's current (single-use) resume token. The ledger keeps only its hash. */
  resumeToken: string;
}

export interface AdmissionLedger {
  /** A participant was admitted, or resumed with a fresh token. Never throws (failures are logged). */
  admitted(roomId: string, record: AdmissionRecord): void;
  /** A participant left for good. Never throws. */
  departed(roomId: string, peerId: string): void;
  /** The room closed: nobody can be restored into it. Never throws. */
  closed(roomId: string): void;
  /** Whether this user, in this role, may re-enter as `peerId` with this token. */
  verify(roomId: string, peerId: string, userId: string, role: LiveRole, resumeToken: string): Promise<boolean>;
}
