/**
 * `npm run recording -- <command>` — recordings, for authorised operators:
 *
 *   list [--room <id>]                 recordings and their state (no patient data)
 *   verify <recordingId>               signature, hash chain and every segment in storage
 *   export <recordingId> --out <file>  decrypt and mux all tracks into one WebM (Matroska for H.264) file
 *   hold <recordingId> on|off          legal hold (kept past retention while on)
 *   sweep                              destroy recordings past retention now
 *
 * Uses the server's configuration (database, object store, recording keys).
 * With the embedded database the server must be stopped first.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/index.ts';
import { RecordingArchive } from '../domain/recordings/RecordingArchive.ts';
import { RetentionSweeper } from '../domain/recordings/RetentionSweeper.ts';
import { AuditTrail } from '../domain/audit/AuditTrail.ts';
import { createLogger } from '../observability/logger.ts';
import { LocalRsaKeyService } from '../pki/KeyEncryptionService.ts';
import { openDatabase } from '../storage/db/index.ts';
import { openObjectStore } from '../storage/objects/index.ts';
import { KeyRegistry } from '../storage/repositories/KeyRegistry.ts';
import { RecordingRepository } from '../storage/repositories/RecordingRepository.ts';

const usage = `Usage: npm run recording -- list [--room <id>] | verify <id> | export <id> --out <file.webm> | hold <id> on|off | sweep`;

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

const { values, positionals } = (() => {
  try {
    return parseArgs({ options: { out: { type: 'string' }, room: { type: 'string' } }, allowPositionals: true, strict: true });
  } catch (err) {
    fail(`${(err as Error).message}\n${usage}`);
  }
})();
const [command, id, flag] = positionals;
if (!command) fail(usage);

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) fail(err.message);
  throw err;
}
const log = createLogger('warn');
const db = await openDatabase(config, log).catch((err: unknown) => fail(`Cannot open the database: ${(err as Error).message}`, 1));
const objects = await openObjectStore(config);
const repository = new RecordingRepository(db);
const keyDir = config.recordings.keyDir ?? path.join(config.dataDir, 'keys');

try {
  switch (command) {
    case 'list': {
      const rows = await db.query<{ recording_id: string; room_id: string; status: string; started_at: Date; ended_at: Date | null; retain_until: Date; legal_hold: boolean }>(
        `SELECT recording_id, room_id, status, started_at, ended_at, retain_until, legal_hold FROM recordings
         ${values.room ? 'WHERE room_id = $1' : ''} ORDER BY started_at`,
        values.room ? [values.room] : [],
      );
      for (const r of rows.rows) {
        process.stdout.write(
          `${r.recording_id}\t${r.room_id}\t${r.status}\t${new Date(r.started_at).toISOString()}\t${r.ended_at ? new Date(r.ended_at).toISOString() : '-'}\tretain-until ${new Date(r.retain_until).toISOString().slice(0, 10)}${r.legal_hold ? '\tLEGAL HOLD' : ''}\n`,
        );
      }
      break;
    }
    case 'verify':
    case 'export': {
      if (!id) fail(usage);
      const registry = new KeyRegistry(db);
      const archive = new RecordingArchive({
        store: objects.store,
        repository,
        kek: LocalRsaKeyService.load(keyDir, { generate: false }),
        manifestKey: (keyId) => registry.publicKey(keyId, 'manifest-signing'),
      });
      if (command === 'verify') {
        const manifest = await archive.verify(id);
        process.stdout.write(`OK: ${manifest.segments.length} segments in ${manifest.tracks.length} tracks verified (signature, hash chain, SHA-256); status ${manifest.status}\n`);
      } else {
        if (!values.out) fail(`export needs --out <file.webm>\n${usage}`);
        if (!(await repository.get(id))) fail(`no recording ${id}`, 1);
        const out = path.resolve(values.out);
        // Ctrl-C or a stop signal aborts the export, which then removes its
        // plaintext (temporary files and the partial output) before exiting.
        const abort = new AbortController();
        const onSignal = () => abort.abort(new Error('export interrupted; no plaintext left behind'));
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        // In the trail before the key is unwrapped: an export that fails or is cut short still used it.
        await new AuditTrail({ db, log }).append({
          action: 'key.data_key_unwrapped',
          actor: process.env['USER'] ? `operator:${process.env['USER']}` : 'operator',
          subject: `recording:${id}`,
          flagged: true,
          details: { purpose: 'export', via: 'cli' },
        });
        const { tracks } = await archive.export(id, out, { signal: abort.signal });
        process.stderr.write(`exported ${tracks.length} tracks to ${out} (plaintext: keep it under the hospital's control)\n`);
      }
      break;
    }
    case 'hold': {
      if (!id || (flag !== 'on' && flag !== 'off')) fail(usage);
      if (!(await repository.get(id))) fail(`no recording ${id}`, 1);
      await repository.setLegalHold(id, flag === 'on');
      await new AuditTrail({ db, log }).append({
        action: 'recording.legal_hold',
        actor: process.env['USER'] ? `operator:${process.env['USER']}` : 'operator',
        subject: `recording:${id}`,
        details: { legalHold: flag === 'on', via: 'cli' },
      });
      process.stdout.write(`legal hold ${flag} for ${id}\n`);
      break;
    }
    case 'sweep': {
      const audit = new AuditTrail({ db, log });
      const report = await new RetentionSweeper({ repository, store: objects.store, log, audit }).sweep();
      await audit.flush();
      process.stdout.write(`destroyed ${report.destroyed.length} recording(s)${report.objectsLeft ? `; ${report.objectsLeft} object(s) could not be deleted (unreadable without their key)` : ''}\n`);
      break;
    }
    default:
      fail(usage);
  }
} catch (err) {
  process.stderr.write(`Failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await objects.store.close();
  await objects.embedded?.close();
  await db.close();
}
