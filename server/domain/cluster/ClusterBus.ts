/**
 * Notices that must reach whichever node holds the thing they are about:
 * a consultation completed through REST on one node closes its room on the
 * node that hosts it; a revoked playback grant ends the streams of every
 * node. On one node the bus is local; in a cluster the edge carries it over
 * socket.io's Redis adapter (server-side events), and every node —
 * including the sender — handles each notice once.
 */
import type { ClusterNotice } from '../../protocol/cluster.ts';

export type { ClusterNotice };

export interface ClusterBus {
  publish(notice: ClusterNotice): void;
  /** Handlers run for notices from every node, this one included. */
  subscribe(handler: (notice: ClusterNotice) => void): void;
}

/** One node: notices go straight to its own handlers. */
export class LocalBus implements ClusterBus {
  readonly #handlers: Array<(notice: ClusterNotice) => void> = [];

  publish(notice: ClusterNotice): void {
    for (const handler of this.#handlers) handler(notice);
  }

  subscribe(handler: (notice: ClusterNotice) => void): void {
    this.#handlers.push(handler);
  }
}
