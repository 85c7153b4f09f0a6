import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { PgliteDatabase, PostgresDatabase, migrate, readMigrations, type Database } from '../../server/storage/db/index.ts';
import { MigrationError } from '../../server/storage/db/migrate.ts';
import { KeyRegistry } from '../../server/storage/repositories/KeyRegistry.ts';
import { sharedPostgres } from '../support/postgres.ts';
import { captureLogger, pgliteTemplate, tempDir } from '../support/server.ts';

/** The same story on both backends: the SQL must not care which one it runs on. */
interface Opened {
  db: Database;
  /** Another server's connection to the same database (PGlite: one process, the same handle). */
  another(): Promise<Database>;
}

const backends: Array<{ kind: string; open(): Promise<Opened> }> = [
  {
    kind: 'PGlite',
    async open() {
      const dir = path.join(tempDir(), 'pglite');
      fs.cpSync(await pgliteTemplate(), dir, { recursive: true });
      const db = await PgliteDatabase.open(dir);
      return { db, another: async () => db };
    },
  },
  {
    kind: 'PostgreSQL',
    async open() {
      const url = await (await sharedPostgres()).createDatabase();
      const connect = () => PostgresDatabase.connect({ url, poolSize: 4, log: captureLogger().log });
      return { db: await connect(), another: connect };
    },
  },
];

describe('embedded database lock', () => {
  it('refuses a second process (or a second open) on the same PGlite folder, and takes over a stale lock', async () => {
    const dir = path.join(tempDir(), 'pglite');
    fs.cpSync(await pgliteTemplate(), dir, { recursive: true });
    const first = await PgliteDatabase.open(dir);
    let error: unknown;
    try {
      await PgliteDatabase.open(dir);
    } catch (err) {
      error = err;
    }
    expect((error as Error).message).to.match(new RegExp(`in use by process ${process.pid}`));
    await first.close();
    // A lock left by a process that is gone (a crash) does not block.
    fs.writeFileSync(path.join(dir, '.huizhen.lock'), '999999999');
    const again = await PgliteDatabase.open(dir);
    await again.close();
    expect(fs.existsSync(path.join(dir, '.huizhen.lock'))).to.equal(false);
  });
});

for (const backend of backends) {
  describe(`database on ${backend.kind}`, () => {
    let db: Database;
    let opened: Opened;
    const others: Database[] = [];
    beforeEach(async () => {
      opened = await backend.open();
      db = opened.db;
    });
    afterEach(async () => {
      await db.close();
      for (const other of others.splice(0)) await other.close();
    });

    it('applies every migration on an empty database, then none on the second run', async () => {
      const first = await migrate(db);
      expect(first.applied).to.deep.equal(readMigrations().map((m) => m.name));
      const second = await migrate(db);
      expect(second.applied).to.deep.equal([]);
      expect(second.alreadyApplied).to.equal(readMigrations().length);
      const rows = await db.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version');
      expect(rows.rows.map((r) => r.name)).to.deep.equal(first.applied);
    });

    it('serialises two servers migrating an empty database at once', async () => {
      const other = await opened.another();
      if (other !== db) others.push(other);
      const [a, b] = await Promise.all([migrate(db), migrate(other)]);
      expect([...a.applied, ...b.applied].sort()).to.deep.equal(readMigrations().map((m) => m.name));
    });

    it('refuses to boot when an applied migration file was changed', async () => {
      await migrate(db);
      const changed = readMigrations().map((m, i) => (i === 0 ? { ...m, sql: `${m.sql}\n-- edited`, checksum: 'different' } : m));
      let error: unknown;
      try {
        await migrate(db, changed);
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(MigrationError);
      expect((error as Error).message).to.match(/0001_key_registry\.sql was changed after it was applied/);
    });

    it('refuses a database newer than the server', async () => {
      await migrate(db);
      await db.query('INSERT INTO schema_migrations (version, name, checksum) VALUES (999, $1, $2)', ['0999_future.sql', 'x']);
      let error: unknown;
      try {
        await migrate(db);
      } catch (err) {
        error = err;
      }
      expect((error as Error).message).to.match(/schema version 999, newer than this server/);
    });

    it('rolls a failed transaction back completely', async () => {
      await migrate(db);
      let error: unknown;
      try {
        await db.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO key_registry (key_id, purpose, algorithm, public_key_pem, fingerprint_sha256) VALUES ('k1', 'tls', 'x', 'pem', 'f1')`,
          );
          await tx.query('SELECT no_such_column FROM key_registry');
        });
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(Error);
      expect((await db.query('SELECT * FROM key_registry')).rows).to.have.length(0);
    });

    it('registers a public key once and refuses unknown purposes', async () => {
      await migrate(db);
      const registry = new KeyRegistry(db);
      const pem = fs.readFileSync(new URL('../fixtures/p256-public.pem', import.meta.url), 'utf8');
      expect(await registry.register({ keyId: 'k-1', purpose: 'token-signing', algorithm: 'ES256', publicKeyPem: pem })).to.equal(true);
      expect(await registry.register({ keyId: 'k-1', purpose: 'token-signing', algorithm: 'ES256', publicKeyPem: pem })).to.equal(false);
      const active = await registry.active('token-signing');
      expect(active).to.have.length(1);
      expect(active[0]?.fingerprintSha256).to.match(/^[0-9a-f]{64}$/);
      let error: unknown;
      try {
        await db.query(
          `INSERT INTO key_registry (key_id, purpose, algorithm, public_key_pem, fingerprint_sha256) VALUES ('k2', 'nonsense', 'x', 'pem', 'f2')`,
        );
      } catch (err) {
        error = err;
      }
      expect((error as Error).message).to.match(/check constraint/);
    });

    it('answers ping, and refuses queries after close', async () => {
      await db.ping();
      await db.close();
      let error: unknown;
      try {
        await db.ping(500);
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(Error);
    });
  });
}
