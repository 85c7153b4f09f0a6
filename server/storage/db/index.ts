import type { Logger } from 'pino';
import path from 'node:path';
import type { Config } from '../../config/index.ts';
import type { Database } from './Database.ts';
import { PgliteDatabase } from './PgliteDatabase.ts';
import { PostgresDatabase } from './PostgresDatabase.ts';

export type { Database, Queryable, QueryResult, DatabaseKind } from './Database.ts';
export { migrate, readMigrations, MigrationError, MIGRATIONS_DIR } from './migrate.ts';
export { PgliteDatabase, PostgresDatabase };

/** PostgreSQL when `database.url` is set, else PGlite under `<dataDir>/pglite`. */
export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  if (config.database.url) {
    return PostgresDatabase.connect({ url: config.database.url, poolSize: config.database.poolSize, log });
  }
  return PgliteDatabase.open(path.join(config.dataDir, 'pglite'));
}
