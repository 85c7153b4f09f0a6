/**
 * A throwaway Redis server on loopback for the scale-out tests (Debian's
 * redis-server), without persistence: a restart comes back empty, the way
 * a Redis that lost its data does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort, waitForPort } from './ports.ts';

export interface RedisServer {
  url: string;
  port: number;
  /** A client for the test's own checks. */
  client(): Redis;
  /** Kills the server and starts it again on the same port, empty (its data is gone). */
  restart(): Promise<void>;
  /** Kills the server (an outage), and starts it again, empty. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and the test's clients. */
  close(): Promise<void>;
}



export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const clients: Redis[] = [];
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.once('error', () => undefined);
    await waitForPort(port, 10_000);
  };
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    client() {
      const client = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 1 });
      client.on('error', () => undefined);
      clients.push(client);
      return client;
    },
    async restart() {
      await stop();
      await start();
    },
    kill: stop,
    start,
    async close() {
      for (const c of clients.splice(0)) c.disconnect();
      await stop();
    },
  };
}
