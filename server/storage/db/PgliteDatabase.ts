/**
 * Embedded PostgreSQL (PGlite, WebAssembly) with its data directory on disk.
 * Single connection: PGlite queues concurrent queries itself.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { withTimeout } from '../../util/withTimeout.ts';
import type { Database, QueryResult, Queryable } from './Database.ts';

export class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  readonly #db: PGlite;
  #closed: Promise<void> | undefined;

  readonly #lock: string | undefined;

  private constructor(db: PGlite, lock: string | undefined) {
    this.#db = db;
    this.#lock = lock;
  }

  /**
   * Opens (creating if needed) the database in `dataDir`; `undefined` keeps
   * it in memory. PGlite is a single-process database: a second process (a
   * CLI while the server runs) opening the same folder would corrupt it, so
   * the folder is locked with the owner's pid; a lock whose process is gone
   * (a crash) is taken over.
   */
  static async open(dataDir: string | undefined): Promise<PgliteDatabase> {
    let lock: string | undefined;
    if (dataDir) {
      fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      lock = path.join(dataDir, '.huizhen.lock');
      takeLock(lock);
    }
    try {
      const db = dataDir ? new PGlite(dataDir) : new PGlite();
      await db.waitReady;
      return new PgliteDatabase(db, lock);
    } catch (err) {
      if (lock) fs.rmSync(lock, { force: true });
      throw err;
    }
  }

  async query<R = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    return toResult(await this.#live().query<R>(sql, [...params]));
  }

  async exec(sql: string): Promise<void> {
    await this.#live().exec(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#live().transaction(async (tx: Transaction) =>
      fn({
        query: async <R>(sql: string, params: readonly unknown[] = []) => toResult(await tx.query<R>(sql, [...params])),
        exec: async (sql: string) => {
          await tx.exec(sql);
        },
      }),
    );
  }

  async ping(timeoutMs = 2000): Promise<void> {
    await withTimeout(this.#live().query('SELECT 1'), timeoutMs, 'database did not answer in time');
  }

  close(): Promise<void> {
    this.#closed ??= (this.#db.closed ? Promise.resolve() : this.#db.close()).finally(() => {
      if (this.#lock) fs.rmSync(this.#lock, { force: true });
    });
    return this.#closed;
  }

  #live(): PGlite {
    if (this.#closed || this.#db.closed) throw new Error('database is closed');
    return this.#db;
  }
}

function toResult<R>(result: { rows: R[]; affectedRows?: number }): QueryResult<R> {
  return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
}

export class DatabaseInUseError extends Error {
  constructor(pid: number) {
    super(`the embedded database is in use by process ${pid} (stop the server first, or use PostgreSQL with DATABASE_URL)`);
    this.name = 'DatabaseInUseError';
  }
}

function takeLock(file: string): void {
  try {
    fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const pid = Number(fs.readFileSync(file, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) throw new DatabaseInUseError(pid);
  fs.writeFileSync(file, String(process.pid), { mode: 0o600 });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
