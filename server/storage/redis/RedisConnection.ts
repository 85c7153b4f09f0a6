/**
 * The connections of one node to Redis (scale-out only): a command client
 * for leases, load reports and admissions, and a publisher/subscriber pair
 * for socket.io's Redis adapter.
 *
 * Redis holds nothing that cannot be rebuilt: PostgreSQL and S3 stay the
 * system of record. So the command client fails fast while Redis is away
 * (no offline queue: a lease renewal that waits would be worse than one that
 * fails), and the node keeps serving what it hosts until Redis is back.
 *
 * Events (on `events`):
 * - `down` — the command connection was lost (emitted once per outage);
 * - `up` — it is ready again, after a `down` (the node then rebuilds what
 *   it keeps in Redis: Redis may have restarted empty).
 */
import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

export interface RedisConnectionEvents {
  up: [];
  down: [];
}

export interface RedisConnection {
  /** Commands (fail fast while Redis is unreachable). */
  readonly command: Redis;
  /** Publisher and subscriber for the socket.io adapter (queue while away). */
  readonly publisher: Redis;
  readonly subscriber: Redis;
  readonly events: EventEmitter<RedisConnectionEvents>;
  /** Whether the command connection is ready now. */
  readonly ready: boolean;
  /** Closes all three connections. Idempotent. */
  close(): Promise<void>;
}

/** Reconnect quickly, then every 2 s, for ever: Redis coming back is the normal case. */
function retryStrategy(times: number): number {
  return Math.min(100 * times, 2000);
}

export async function openRedis(url: string, log: Logger, connectTimeoutMs = 5000): Promise<RedisConnection> {
  const rlog = log.child({ component: 'redis' });
  const base: RedisOptions = { retryStrategy, connectTimeout: connectTimeoutMs, lazyConnect: true };
  const command = new Redis(url, { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 2000 });
  const publisher = new Redis(url, { ...base, maxRetriesPerRequest: null });
  const subscriber = new Redis(url, { ...base, maxRetriesPerRequest: null });
  const events = new EventEmitter<RedisConnectionEvents>();
  let down = false;
  let closed = false;
  // ioredis reports each failed reconnection attempt: log a change of state once, not every attempt.
  for (const client of [command, publisher, subscriber]) client.on('error', () => undefined);
  command.on('ready', () => {
    if (!down) return;
    down = false;
    rlog.warn('redis is reachable again');
    events.emit('up');
  });
  command.on('close', () => {
    if (down || closed) return;
    down = true;
    rlog.error('redis connection lost; serving what this node hosts until it is back');
    events.emit('down');
  });

  try {
    await Promise.all([command.connect(), publisher.connect(), subscriber.connect()]);
  } catch (err) {
    closed = true;
    for (const client of [command, publisher, subscriber]) client.disconnect();
    // The URL may carry a password: name only the failure.
    throw new Error(`cannot reach redis: ${(err as Error).message}`, { cause: err });
  }
  rlog.info('connected to redis');

  let closing: Promise<void> | undefined;
  return {
    command,
    publisher,
    subscriber,
    events,
    get ready() {
      return command.status === 'ready';
    },
    close() {
      closing ??= (async () => {
        closed = true;
        await Promise.allSettled([command, publisher, subscriber].map((c) => c.quit()));
        for (const client of [command, publisher, subscriber]) client.disconnect();
      })();
      return closing;
    },
  };
}
