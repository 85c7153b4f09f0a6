/**
 * `npm run audit -- verify | export`: an auditor checks the trail of a
 * stopped server. Every kind of tampering is named where it happened.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import forge from 'node-forge';
import { loadConfig } from '../../server/config/index.ts';
import { checkpointKey } from '../../server/domain/audit/AuditTrail.ts';
import { SIGNATURE_ALGORITHM } from '../../server/domain/recordings/manifest.ts';
import { MANIFEST_KEY_FILE } from '../../server/pki/ManifestSigner.ts';
import { publicKeyFingerprint } from '../../server/pki/keyFiles.ts';
import { signCanonical } from '../../server/pki/signatures.ts';
import { PgliteDatabase } from '../../server/storage/db/PgliteDatabase.ts';
import { openObjectStore } from '../../server/storage/objects/index.ts';
import { AuditRepository } from '../../server/storage/repositories/AuditRepository.ts';
import { KeyRegistry } from '../../server/storage/repositories/KeyRegistry.ts';
import { runNode } from '../support/process.ts';
import { recordVisit } from '../support/recordedVisit.ts';
import { RoomFixture } from '../support/roomFixture.ts';
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

  /** A key pair nobody pinned, as someone who rewrote the trail would make one. */
  function forgedKey() {
    const pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicKeyPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const privateKey = forge.pki.privateKeyFromPem(pair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()) as forge.pki.rsa.PrivateKey;
    return { publicKeyPem, privateKey, keyId: publicKeyFingerprint(publicKeyPem).slice(0, 16) };
  }

  /** Replaces the checkpoint of the chain's head with one signed by `signer` (the object store is outside the database). */
  async function forgeCheckpoint(dir: string, signer: { keyId: string; privateKey: forge.pki.rsa.PrivateKey }): Promise<string> {
    const db = await PgliteDatabase.open(path.join(dir, 'pglite'));
    const head = (await new AuditRepository(db).head())!;
    await db.close();
    const objects = await openObjectStore(loadConfig({ env: {}, overrides: { dataDir: dir } }));
    try {
      const body = { format: 'huizhen-audit-checkpoint/1', seq: head.seq, hash: head.hash, at: new Date().toISOString() };
      await objects.store.put(checkpointKey(head.seq), Buffer.from(JSON.stringify({ ...body, signature: signCanonical(body, signer) })), { contentType: 'application/json' });
    } finally {
      await objects.store.close();
      await objects.embedded?.close();
    }
    return checkpointKey(head.seq);
  }

  it('trusts only the pinned manifest-signing key: a forged key registered in the database, and its checkpoint, are reported', async () => {
    // A new key registered beside the server's, signing the checkpoint of the head.
    const added = forgedKey();
    const dir = await copyWith((db) =>
      new KeyRegistry(db).register({ keyId: added.keyId, purpose: 'manifest-signing', algorithm: SIGNATURE_ALGORITHM, publicKeyPem: added.publicKeyPem }).then(() => undefined),
    );
    const forgedAt = await forgeCheckpoint(dir, added);
    const r = await audit(dir, 'verify');
    expect(r.code, r.out).to.equal(1);
    expect(r.out).to.include(`BROKEN: the key registry's manifest-signing key ${added.keyId} is not the pinned key`);
    expect(r.out).to.include(`BROKEN: checkpoint ${forgedAt} does not verify with the pinned key`);

    // The server's own registry row swapped for another key, under the server's key id.
    const swapped = forgedKey();
    const realKeyId = publicKeyFingerprint(crypto.createPublicKey(fs.readFileSync(path.join(original, 'keys', MANIFEST_KEY_FILE), 'utf8')).export({ type: 'spki', format: 'pem' }).toString()).slice(0, 16);
    const dir2 = await copyWith((db) => db.query(`UPDATE key_registry SET public_key_pem = $1 WHERE key_id = $2`, [swapped.publicKeyPem, realKeyId]).then(() => undefined));
    await forgeCheckpoint(dir2, { keyId: realKeyId, privateKey: swapped.privateKey });
    const r2 = await audit(dir2, 'verify');
    expect(r2.code, r2.out).to.equal(1);
    expect(r2.out).to.include(`BROKEN: the key registry's manifest-signing key ${realKeyId} is not the pinned key`);
    expect(r2.out).to.match(/BROKEN: checkpoint \S+ does not verify with the pinned key/);
  });

  it('takes the pinned key from --public-key: the server\u2019s public key verifies, another one does not', async () => {
    const dir = await copyWith();
    const serverKey = path.join(dir, 'manifest-signing.pub.pem');
    fs.writeFileSync(serverKey, crypto.createPublicKey(fs.readFileSync(path.join(dir, 'keys', MANIFEST_KEY_FILE), 'utf8')).export({ type: 'spki', format: 'pem' }).toString());
    // The auditor has no private key at all.
    fs.rmSync(path.join(dir, 'keys', MANIFEST_KEY_FILE));
    const ok = await audit(dir, 'verify', '--public-key', serverKey);
    expect(ok.code, ok.out + ok.err).to.equal(0);
    expect(ok.out).to.match(/1 signed checkpoint\(s\) agree/);
    const other = path.join(dir, 'other.pub.pem');
    fs.writeFileSync(other, forgedKey().publicKeyPem);
    const bad = await audit(dir, 'verify', '--public-key', other);
    expect(bad.code).to.equal(1);
    expect(bad.out).to.match(/BROKEN: the key registry's manifest-signing key \S+ is not the pinned key/);
    expect(bad.out).to.match(/does not verify with the pinned key/);
    const none = await audit(dir, 'verify');
    expect(none.code, 'no key to pin').to.equal(2);
    expect(none.err).to.match(/--public-key/);
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

describe('recording export (CLI)', function () {
  this.timeout(120_000);
  const fx = new RoomFixture('cli-export');
  let dataDir = '';
  let recordingId = '';

  before(async () => {
    dataDir = tempDir();
    const server = await startTestServer({ dataDir });
    try {
      fx.use(server);
      recordingId = (await recordVisit(fx, { seconds: 2, department: 'cardiology' })).recordingId;
      fx.closeAll();
      // One segment lost from storage: the export fails part-way.
      for await (const o of server.objectStore.list(`recordings/${recordingId}/`)) {
        if (o.key.endsWith('.seg')) {
          await server.objectStore.delete(o.key);
          break;
        }
      }
    } finally {
      await server.close();
    }
  });
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('records the use of the recording\u2019s key before exporting, so that a failed export is in the trail too', async () => {
    const out = path.join(dataDir, 'out.webm');
    const p = runNode('server/cli/recording.ts', ['export', recordingId, '--out', out], { HUIZHEN_DATA_DIR: dataDir, USER: 'auditor-wang' });
    expect(await p.exited, p.stderr()).to.equal(1);
    expect(p.stderr()).to.match(/^Failed: /m);
    expect(fs.existsSync(out), 'no plaintext left behind').to.equal(false);
    const unknown = runNode('server/cli/recording.ts', ['export', 'rec-nonexistent', '--out', out], { HUIZHEN_DATA_DIR: dataDir });
    expect(await unknown.exited).to.equal(1);
    const db = await PgliteDatabase.open(path.join(dataDir, 'pglite'));
    try {
      const audit = new AuditRepository(db);
      const unwraps = (await audit.forSubject(`recording:${recordingId}`)).filter((e) => e.action === 'key.data_key_unwrapped');
      expect(unwraps.map((e) => [e.actor, e.flagged, e.details['purpose'], e.details['via']])).to.deep.equal([['operator:auditor-wang', true, 'export', 'cli']]);
      expect(await audit.forSubject('recording:rec-nonexistent')).to.deep.equal([]);
    } finally {
      await db.close();
    }
  });
});
