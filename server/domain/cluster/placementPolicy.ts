/**
 * Which node a new consultation room goes to: the least-loaded healthy one.
 *
 * Load is counted in consumers per media worker — forwarding to consumers
 * is what an SFU spends its CPU on (see the benchmarks) — with each room
 * placed on a node since its last report counted as the four consumers of
 * a two-party visit, so a burst of new rooms spreads out before the reports
 * catch up. A node whose workers are above 85 % CPU is skipped while any
 * other node is below; a draining node (shutting down) takes nothing.
 * Ties go to fewer rooms, then to the node id, so every node that asks
 * gets the same answer.
 */
import type { NodeReport } from '../../storage/redis/ClusterStore.ts';

export const OVERLOADED_CPU = 0.85;
/** Consumers a newly placed room is expected to bring (two participants, audio and video each way). */
export const CONSUMERS_PER_NEW_ROOM = 4;

export type CandidateNode = NodeReport & { placedSince: number };

export function nodeLoad(n: CandidateNode): number {
  return (n.consumers + CONSUMERS_PER_NEW_ROOM * n.placedSince) / Math.max(1, n.workers);
}

/** The node for a new room, or null when no node can take one. */
export function chooseNode(candidates: readonly CandidateNode[]): CandidateNode | null {
  const healthy = candidates.filter((n) => !n.draining && n.workers > 0);
  const cool = healthy.filter((n) => n.workerCpu < OVERLOADED_CPU);
  const pool = cool.length > 0 ? cool : healthy;
  let best: CandidateNode | null = null;
  for (const n of pool) {
    if (!best) {
      best = n;
      continue;
    }
    const d = nodeLoad(n) - nodeLoad(best);
    if (d < 0 || (d === 0 && (n.rooms + n.placedSince < best.rooms + best.placedSince || (n.rooms + n.placedSince === best.rooms + best.placedSince && n.nodeId < best.nodeId)))) {
      best = n;
    }
  }
  return best;
}
