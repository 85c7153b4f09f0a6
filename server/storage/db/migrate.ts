/**
 * Versioned SQL migrations: `migrations/NNNN_description.sql`, applied in
 * order, each in its own transaction, recorded with a checksum in
 * `schema_migrations`. A migration that was changed after it was applied
 * stops the boot: the schema would no longer be what the files say.
 * Concurrent migrators (two servers starting at once) serialise on an
 * advisory lock. The same SQL runs on PGlite and PostgreSQL.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from './Database.ts';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Arbitrary constant key for pg_advisory_xact_lock. */
const MIGRATION_LOCK_KEY = 0x48_5a_4d_31; // "HZM1"

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const migrations: Migration[] = [];
  for (const file of fs.readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match) throw new MigrationError(`migration file name ${file} must look like 0001_description.sql`);
    const sql = fs.readFileSync(path.join(dir, file), 'utf8');
    migrations.push({
      version: Number(match[1]),
      name: file,
      sql,
      checksum: crypto.createHash('sha256').update(sql).digest('hex'),
    });
  }
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new MigrationError(`migrations must be numbered 1, 2, 3… without gaps; found ${m.name} at position ${i + 1}`);
    }
  });
  return migrations;
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: number;
}

export async function migrate(db: Database, migrations = readMigrations()): Promise<MigrationReport> {
  // Under the same lock as the migrations: two servers starting together on
  // an empty database would otherwise race on creating this table.
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.exec(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version     integer PRIMARY KEY,
        name        text NOT NULL,
        checksum    text NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now()
      )`);
  });

  const report: MigrationReport = { applied: [], alreadyApplied: 0 };
  for (const migration of migrations) {
    const applied = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      const existing = await tx.query<{ checksum: string }>(
        'SELECT checksum FROM schema_migrations WHERE version = $1',
        [migration.version],
      );
      const row = existing.rows[0];
      if (row) {
        if (row.checksum !== migration.checksum) {
          throw new MigrationError(
            `migration ${migration.name} was changed after it was applied; add a new migration instead`,
          );
        }
        return false;
      }
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
      return true;
    });
    if (applied) report.applied.push(migration.name);
    else report.alreadyApplied += 1;
  }

  const newest = await db.query<{ version: number }>('SELECT max(version) AS version FROM schema_migrations');
  const dbVersion = Number(newest.rows[0]?.version ?? 0);
  if (dbVersion > migrations.length) {
    throw new MigrationError(
      `the database is at schema version ${dbVersion}, newer than this server (${migrations.length}); upgrade the server`,
    );
  }
  return report;
}
