/**
 * Embedded PostgreSQL (PGlite, WebAssembly) with its data directory on disk.
 * Single connection: PGlite queues concurrent queries itself.
 */
import fs from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { withTimeout } from '../../util/withTimeout.ts';
import type { Database, QueryResult, Queryable } from './Database.ts';

export class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  readonly #db: PGlite;
  #closed: Promise<void> | undefined;

  private constructor(db: PGlite) {
    this.#db = db;
  }

  /** Opens (creating if needed) the database in `dataDir`; `undefined` keeps it in memory. */
  static async open(dataDir: string | undefined): Promise<PgliteDatabase> {
    if (dataDir) fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const db = dataDir ? new PGlite(dataDir) : new PGlite();
    await db.waitReady;
    return new PgliteDatabase(db);
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
    this.#closed ??= this.#db.closed ? Promise.resolve() : this.#db.close();
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
