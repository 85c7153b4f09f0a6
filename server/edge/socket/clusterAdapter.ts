/**
 * Scale-out at the edge: socket.io's Redis adapter, so that events reach
 * sockets and nodes whatever node they landed on, and the cluster bus on top
 * of it (server-side events: a notice published on one node is handled on
 * every node, the publisher included, once).
 */
import { createAdapter } from '@socket.io/redis-adapter';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ClusterBus, ClusterNotice } from '../../domain/cluster/ClusterBus.ts';
import type { RedisConnection } from '../../storage/redis/RedisConnection.ts';
import type { HuizhenIo } from './socketServer.ts';

/** Notices come from other nodes over Redis: checked like any other input. */
const noticeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('room.close'), roomId: z.string().min(1).max(200), reason: z.enum(['visit_ended', 'server_shutdown', 'room_moved']) }),
  z.strictObject({ kind: z.literal('playback.grant_ended'), requestId: z.string().min(1).max(200), status: z.enum(['revoked', 'expired']) }),
  z.strictObject({ kind: z.literal('practitioner.suspended'), userId: z.string().min(1).max(200) }),
]);

export function attachRedisAdapter(io: HuizhenIo, redis: Pick<RedisConnection, 'publisher' | 'subscriber'>): HuizhenIo {
  io.adapter(createAdapter(redis.publisher, redis.subscriber, { key: 'huizhen:socket.io' }));
  return io;
}

export function adapterBus(io: HuizhenIo, log: Logger): ClusterBus {
  const handlers: Array<(notice: ClusterNotice) => void> = [];
  const deliver = (notice: ClusterNotice) => {
    for (const handler of handlers) {
      try {
        handler(notice);
      } catch (err) {
        log.error({ kind: notice.kind, err: { message: (err as Error).message } }, 'cluster notice handler failed');
      }
    }
  };
  // From the other nodes (serverSideEmit does not loop back to the sender).
  io.on('cluster:notice', (raw: unknown) => {
    const parsed = noticeSchema.safeParse(raw);
    if (!parsed.success) {
      log.warn('malformed cluster notice ignored');
      return;
    }
    deliver(parsed.data);
  });
  return {
    publish(notice) {
      deliver(notice);
      io.serverSideEmit('cluster:notice', notice);
    },
    subscribe(handler) {
      handlers.push(handler);
    },
  };
}
