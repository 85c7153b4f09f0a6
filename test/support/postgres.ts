/**
 * A throwaway PostgreSQL cluster on loopback for the tests, from Debian's
 * packages (postgresql). initdb refuses to run as root, so as root the
 * cluster runs as the `postgres` system user. `HUIZHEN_TEST_DATABASE_URL`
 * points the tests at an existing server instead.
 *
 * One cluster is shared by the suite (started on first use, stopped by the
 * root hook); each test file creates its own database in it. Tests that
 * need to stop PostgreSQL start a private cluster.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';

export interface PostgresCluster {
  /** postgres://… of the `postgres` maintenance database. */
  adminUrl: string;
  port: number;
  /** Creates a fresh database and returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Fast shutdown; idempotent. */
  stop(): Promise<void>;
}

function findBinDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base)
    ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb')))
    : [];
  versions.sort((a, b) => Number(b) - Number(a));
  const newest = versions[0];
  if (!newest) throw new Error('PostgreSQL is not installed (apt-get install postgresql); run bash scripts/setup.sh --test');
  return path.join(base, newest, 'bin');
}

function postgresUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    throw new Error('the postgres system user is missing (apt-get install postgresql creates it)');
  }
}


export async function startPostgres(): Promise<PostgresCluster> {
  const bin = findBinDir();
  const asRoot = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huizhen-pg-'));
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  // Run PostgreSQL itself (not a runuser/su wrapper) as `postgres`, so that
  // signals reach it directly.
  const owner = asRoot ? postgresUser() : {};
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);

  execFileSync(
    path.join(bin, 'initdb'),
    ['-D', dataDir, '-U', 'huizhen', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'],
    { stdio: 'pipe', ...owner },
  );

  const port = await freePort();
  const child: ChildProcess = spawn(
    path.join(bin, 'postgres'),
    [
      '-D', dataDir, '-h', '127.0.0.1', '-p', String(port), '-k', dir,
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      '-c', 'max_connections=200', '-c', 'shared_buffers=32MB',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], ...owner },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const adminUrl = `postgres://huizhen@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = new pg.Client({ connectionString: adminUrl });
    try {
      await client.connect();
      await client.end();
      break;
    } catch {
      await client.end().catch(() => undefined);
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`PostgreSQL did not start: ${stderr.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  let stopping: Promise<void> | undefined;
  return {
    adminUrl,
    port,
    async createDatabase(prefix = 'huizhen_test') {
      const name = await createDatabaseAt(adminUrl, prefix);
      return `postgres://huizhen:unused-password@127.0.0.1:${port}/${name}`;
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.pid) {
          // SIGINT: fast shutdown (disconnect clients, no long checkpoint wait).
          child.kill('SIGINT');
          await exited;
        }
        fs.rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

let shared: Promise<PostgresCluster> | undefined;

/** The suite's shared cluster (or HUIZHEN_TEST_DATABASE_URL's server). */
export function sharedPostgres(): Promise<PostgresCluster> {
  const external = process.env['HUIZHEN_TEST_DATABASE_URL'];
  if (external) return Promise.resolve(externalCluster(external));
  shared ??= startPostgres();
  return shared;
}

export async function stopSharedPostgres(): Promise<void> {
  if (!shared) return;
  const cluster = await shared.catch(() => undefined);
  shared = undefined;
  await cluster?.stop();
}

function externalCluster(url: string): PostgresCluster {
  return {
    adminUrl: url,
    port: Number(new URL(url).port || 5432),
    async createDatabase(prefix = 'huizhen_test') {
      const name = await createDatabaseAt(url, prefix);
      const u = new URL(url);
      u.pathname = `/${name}`;
      return u.toString();
    },
    async stop() {},
  };
}

/** Creates a uniquely named database through `adminUrl`; returns its name. */
async function createDatabaseAt(adminUrl: string, prefix: string): Promise<string> {
  const name = `${prefix}_${crypto.randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return name;
}
