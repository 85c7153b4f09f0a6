/**
 * `npm run audit -- verify | export`: an auditor checks the trail of a
 * stopped server. Every kind of tampering is named where it happened.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { PgliteDatabase } from '../../server/storage/db/PgliteDatabase.ts';
import { runNode } from '../support/process.ts';
import { startTestServer, tempDir } from '../support/server.ts';

describe('audit verify and export (CLI)', function () {
  this.timeout(120_000);
  let original = '';
  let entries = 0;

  before(async () => {
    original = tempDir();
    const server = await startTestServer({ dataDir: original });
    try {
      for (let i = 1; i <= 8; i += 1) {
        await server.audit.append({ action: 'room.joined', actor: `dr-${i}`, actorRole: 'host', subject: 'room:audit-room', details: { peerId: `p-${i}` } });
      }
      await server.audit.flush();
      entries = (await server.audit.repository.head())!.seq;
    } finally {
      // Shutdown writes the last signed checkpoint.
      await server.close();
    }
  });
  after(() => fs.rmSync(original, { recursive: true, force: true }));

  /** A copy of the stopped server's data, changed by `tamper` with the trigger bypassed (as a DBA could). */
  async function copyWith(tamper?: (db: PgliteDatabase) => Promise<void>): Promise<string> {
    const dir = tempDir();
    fs.cpSync(original, dir, { recursive: true });
    if (tamper) {
      const db = await PgliteDatabase.open(path.join(dir, 'pglite'));
      try {
        await db.exec('ALTER TABLE audit_log DISABLE TRIGGER USER');
        await tamper(db);
        await db.exec('ALTER TABLE audit_log ENABLE TRIGGER USER');
      } finally {
        await db.close();
      }
    }
    return dir;
  }

  async function audit(dir: string, ...args: string[]): Promise<{ code: number | string; out: string; err: string }> {
    const p = runNode('server/cli/audit.ts', args, { HUIZHEN_DATA_DIR: dir });
    const code = await p.exited;
    return { code, out: p.stdout(), err: p.stderr() };
  }

  it('reports an intact trail with its checkpoint', async () => {
    const r = await audit(await copyWith(), 'verify');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(new RegExp(`OK: ${entries} entries, chain intact up to #${entries}`));
    expect(r.out).to.match(/1 signed checkpoint\(s\) agree/);
  });

  it('names an updated entry', async () => {
    const dir = await copyWith((db) => db.query(`UPDATE audit_log SET actor = 'someone-else' WHERE seq = $1`, [entries - 3]).then(() => undefined));
    const r = await audit(dir, 'verify');
    expect(r.code).to.equal(1);
    expect(r.out).to.include(`BROKEN at #${entries - 3} (modified)`);
  });

  it('names a deleted entry', async () => {
    const dir = await copyWith((db) => db.query('DELETE FROM audit_log WHERE seq = $1', [entries - 4]).then(() => undefined));
    const r = await audit(dir, 'verify');
    expect(r.code).to.equal(1);
    expect(r.out).to.include(`BROKEN at #${entries - 4} (deleted)`);
  });

  it('names reordered entries', async () => {
    const a = entries - 5;
    const dir = await copyWith(async (db) => {
      await db.query('UPDATE audit_log SET seq = 999999 WHERE seq = $1', [a]);
      await db.query('UPDATE audit_log SET seq = $1 WHERE seq = $2', [a, a + 1]);
      await db.query('UPDATE audit_log SET seq = $1 WHERE seq = 999999', [a + 1]);
    });
    const r = await audit(dir, 'verify');
    expect(r.code).to.equal(1);
    expect(r.out).to.include(`BROKEN at #${a} (reordered)`);
  });

  it('catches entries cut from the end, by the signed checkpoint', async () => {
    const dir = await copyWith((db) => db.query('DELETE FROM audit_log WHERE seq > $1', [entries - 2]).then(() => undefined));
    const r = await audit(dir, 'verify');
    expect(r.code).to.equal(1);
    expect(r.out).to.match(/\(truncated\): the trail ends at #\d+, but a signed checkpoint/);
  });

  it('exports every entry as JSON Lines', async () => {
    const dir = await copyWith();
    const out = path.join(dir, 'audit.jsonl');
    const r = await audit(dir, 'export', '--out', out);
    expect(r.code, r.err).to.equal(0);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string; prevHash: string; action: string });
    expect(lines).to.have.length(entries);
    expect(lines.map((l) => l.seq)).to.deep.equal(lines.map((_, i) => i + 1));
    expect(lines[1]!.prevHash).to.equal(lines[0]!.hash);
    expect(lines.filter((l) => l.action === 'room.joined')).to.have.length(8);
  });
});
