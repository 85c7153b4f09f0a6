/**
 * `npm run audit -- <command>` — the audit trail, for auditors and operators:
 *
 *   verify                 walks the whole chain and the signed checkpoints in
 *                          object storage; names every place the chain breaks
 *                          (exit 0 intact, 1 broken)
 *   export [--out <file>]  every entry as JSON Lines (stdout by default)
 *
 * Uses the server's configuration (database, object store). With the
 * embedded database the server must be stopped first.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/index.ts';
import { readCheckpoints } from '../domain/audit/AuditTrail.ts';
import { verifyChain } from '../domain/audit/verifyChain.ts';
import { createLogger } from '../observability/logger.ts';
import { openDatabase } from '../storage/db/index.ts';
import { openObjectStore } from '../storage/objects/index.ts';
import { AuditRepository } from '../storage/repositories/AuditRepository.ts';
import { KeyRegistry } from '../storage/repositories/KeyRegistry.ts';

const usage = 'Usage: npm run audit -- verify | export [--out <file.jsonl>]';

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

const { values, positionals } = (() => {
  try {
    return parseArgs({ options: { out: { type: 'string' } }, allowPositionals: true, strict: true });
  } catch (err) {
    fail(`${(err as Error).message}\n${usage}`);
  }
})();
const [command] = positionals;
if (command !== 'verify' && command !== 'export') fail(usage);

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) fail(err.message);
  throw err;
}
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
    const registry = new KeyRegistry(db);
    let checkpoints: Awaited<ReturnType<typeof readCheckpoints>> = { valid: [], invalid: [] };
    try {
      checkpoints = await readCheckpoints(objects!.store, (keyId) => registry.publicKey(keyId, 'manifest-signing'));
    } catch (err) {
      process.stderr.write(`warning: checkpoints could not be read from object storage (${(err as Error).message}); checking the chain alone\n`);
    }
    const report = await verifyChain(repository.all(), checkpoints.valid);
    for (const key of checkpoints.invalid) process.stdout.write(`BROKEN: checkpoint ${key} does not verify (forged or damaged)\n`);
    for (const p of report.problems) process.stdout.write(`BROKEN at #${p.seq} (${p.kind}): ${p.message}\n`);
    if (report.problems.length === 0 && checkpoints.invalid.length === 0) {
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
