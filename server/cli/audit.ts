/**
 * `npm run audit -- <command>` — the audit trail, for auditors and operators:
 *
 *   verify [--public-key <pem>]…
 *                          walks the whole chain and the signed checkpoints in
 *                          object storage; names every place the chain breaks
 *                          (exit 0 intact, 1 broken)
 *   export [--out <file>]  every entry as JSON Lines (stdout by default)
 *
 * Checkpoints are trusted only when signed by a pinned manifest-signing key:
 * the key in the server's key directory (HUIZHEN_RECORDING_KEY_DIR, else
 * <dataDir>/keys), or the public keys given with --public-key (repeat it
 * for keys retired by a rotation). Never the database's own key registry,
 * which whoever rewrote the trail could have rewritten too: a registered
 * manifest-signing key that is not pinned is reported as a break.
 *
 * Uses the server's configuration (database, object store). With the
 * embedded database the server must be stopped first.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config/index.ts';
import { readCheckpoints } from '../domain/audit/AuditTrail.ts';
import { verifyChain } from '../domain/audit/verifyChain.ts';
import { createLogger } from '../observability/logger.ts';
import { openDatabase } from '../storage/db/index.ts';
import { openObjectStore } from '../storage/objects/index.ts';
import { AuditRepository } from '../storage/repositories/AuditRepository.ts';
import { KeyRegistry } from '../storage/repositories/KeyRegistry.ts';
import { ManifestSigner } from '../pki/ManifestSigner.ts';
import { publicKeyFingerprint } from '../pki/keyFiles.ts';

const usage = 'Usage: npm run audit -- verify [--public-key <manifest-signing.pub.pem>]… | export [--out <file.jsonl>]';

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

const { values, positionals } = (() => {
  try {
    return parseArgs({ options: { out: { type: 'string' }, 'public-key': { type: 'string', multiple: true } }, allowPositionals: true, strict: true });
  } catch (err) {
    fail(`${(err as Error).message}\n${usage}`);
  }
})();
const [command] = positionals;
if (command !== 'verify' && command !== 'export') fail(usage);

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) fail(err.message);
  throw err;
}

/** The manifest-signing public keys checkpoints must be signed with, by key id (the key's fingerprint, as ManifestSigner names it). */
function pinnedKeys(config: Config): Map<string, { pem: string; fingerprint: string }> {
  const pems: string[] = [];
  if (values['public-key']?.length) {
    for (const file of values['public-key']) {
      try {
        pems.push(crypto.createPublicKey(fs.readFileSync(file, 'utf8')).export({ type: 'spki', format: 'pem' }).toString());
      } catch (err) {
        fail(`--public-key ${file}: not a readable PEM public key (${(err as Error).message})`);
      }
    }
  } else {
    const keyDir = config.recordings.keyDir ?? path.join(config.dataDir, 'keys');
    try {
      pems.push(ManifestSigner.load(keyDir, { generate: false }).publicKeyPem);
    } catch (err) {
      fail(`Cannot read the manifest-signing key (${(err as Error).message}); give its public key with --public-key <pem file>`);
    }
  }
  const pinned = new Map<string, { pem: string; fingerprint: string }>();
  for (const pem of pems) {
    const fingerprint = publicKeyFingerprint(pem);
    pinned.set(fingerprint.slice(0, 16), { pem, fingerprint });
  }
  return pinned;
}

const pinned = command === 'verify' ? pinnedKeys(config) : new Map<string, { pem: string; fingerprint: string }>();
const log = createLogger('warn');
const db = await openDatabase(config, log).catch((err: unknown) => fail(`Cannot open the database: ${(err as Error).message}`, 1));
const repository = new AuditRepository(db);
const objects = command === 'verify' ? await openObjectStore(config) : null;

try {
  if (command === 'export') {
    const out = values.out ? fs.createWriteStream(values.out, { mode: 0o600 }) : process.stdout;
    let n = 0;
    for await (const entry of repository.all()) {
      if (!out.write(`${JSON.stringify(entry)}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
      n += 1;
    }
    if (values.out) await new Promise<void>((resolve) => (out as fs.WriteStream).end(resolve));
    process.stderr.write(`exported ${n} audit entries${values.out ? ` to ${values.out}` : ''}\n`);
  } else {
    // The database's key registry must hold the pinned key and no other for manifests.
    const registryProblems: string[] = [];
    for (const key of await new KeyRegistry(db).all('manifest-signing')) {
      let fingerprint = '';
      try {
        fingerprint = publicKeyFingerprint(key.publicKeyPem);
      } catch {
        // An unparsable key is as foreign as any other.
      }
      if (![...pinned.values()].some((p) => p.fingerprint === fingerprint)) {
        registryProblems.push(`the key registry's manifest-signing key ${key.keyId} is not the pinned key (fingerprint ${fingerprint.slice(0, 16) || 'unreadable'}…)`);
      }
    }
    let checkpoints: Awaited<ReturnType<typeof readCheckpoints>> = { valid: [], invalid: [] };
    try {
      checkpoints = await readCheckpoints(objects!.store, async (keyId) => pinned.get(keyId)?.pem ?? null);
    } catch (err) {
      process.stderr.write(`warning: checkpoints could not be read from object storage (${(err as Error).message}); checking the chain alone\n`);
    }
    const report = await verifyChain(repository.all(), checkpoints.valid);
    for (const problem of registryProblems) process.stdout.write(`BROKEN: ${problem}\n`);
    for (const key of checkpoints.invalid) process.stdout.write(`BROKEN: checkpoint ${key} does not verify with the pinned key (forged or damaged)\n`);
    for (const p of report.problems) process.stdout.write(`BROKEN at #${p.seq} (${p.kind}): ${p.message}\n`);
    if (report.problems.length === 0 && checkpoints.invalid.length === 0 && registryProblems.length === 0) {
      process.stdout.write(
        `OK: ${report.entries} entries, chain intact up to #${report.head?.seq ?? 0} (${report.head?.hash.slice(0, 16) ?? '-'}…), ` +
          `${report.checkpointsChecked} signed checkpoint(s) agree; ${report.flagged} flagged entr${report.flagged === 1 ? 'y' : 'ies'}\n`,
      );
    } else {
      process.exitCode = 1;
    }
  }
} catch (err) {
  process.stderr.write(`Failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await objects?.store.close();
  await objects?.embedded?.close();
  await db.close();
}
