/**
 * PostgreSQL through a node-postgres pool (DATABASE_URL).
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { withTimeout } from '../../util/withTimeout.ts';
import type { Database, QueryResult, Queryable } from './Database.ts';

export interface PostgresOptions {
  url: string;
  poolSize: number;
  log: Logger;
}

export class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  #closed: Promise<void> | undefined;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Connects and checks the server answers; fails fast when it does not. */
  static async connect(options: PostgresOptions): Promise<PostgresDatabase> {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      application_name: 'huizhen',
    });
    // An idle client losing its connection emits 'error' on the pool; without
    // a listener that would crash the process. The next query reconnects.
    pool.on('error', (err) => options.log.warn({ err: { message: err.message } }, 'postgres idle client error'));
    const db = new PostgresDatabase(pool);
    try {
      await db.ping(5000);
    } catch (err) {
      await db.close();
      throw err;
    }
    return db;
  }

  async query<R = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    const result = await this.#pool.query(sql, [...params]);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
  }

  async exec(sql: string): Promise<void> {
    await this.#pool.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn({
        query: async <R>(sql: string, params: readonly unknown[] = []) => {
          const r = await client.query(sql, [...params]);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
        },
        exec: async (sql: string) => {
          await client.query(sql);
        },
      });
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async ping(timeoutMs = 2000): Promise<void> {
    await withTimeout(this.#pool.query('SELECT 1'), timeoutMs, 'database did not answer in time');
  }

  close(): Promise<void> {
    this.#closed ??= this.#pool.end();
    return this.#closed;
  }
}
