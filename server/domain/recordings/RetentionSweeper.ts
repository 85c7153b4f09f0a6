/**
 * Retention: recordings past their retain-until date (3 years by default,
 * from the end of the visit) are destroyed unless under legal hold. The
 * wrapped data key goes first — from that moment the sealed media is noise
 * to everyone, the hospital included, even where an object cannot be
 * deleted yet (Object Lock) or storage is unreachable — then the objects.
 * The recording's row stays, marked destroyed, as the record that it
 * existed and when it was destroyed.
 */
import type { Logger } from 'pino';
import { NO_AUDIT, type AuditSink } from '../audit/AuditTrail.ts';
import type { ObjectStore } from '../../storage/objects/ObjectStore.ts';
import type { RecordingRepository } from '../../storage/repositories/RecordingRepository.ts';

export interface SweepReport {
  destroyed: string[];
  /** Objects that could not be deleted (their recording is destroyed all the same). */
  objectsLeft: number;
}

export class RetentionSweeper {
  readonly #repository: RecordingRepository;
  readonly #store: ObjectStore;
  readonly #log: Logger;
  readonly #audit: AuditSink;

  constructor(deps: { repository: RecordingRepository; store: ObjectStore; log: Logger; audit?: AuditSink }) {
    this.#audit = deps.audit ?? NO_AUDIT;
    this.#repository = deps.repository;
    this.#store = deps.store;
    this.#log = deps.log.child({ component: 'retention' });
  }

  async sweep(now = new Date()): Promise<SweepReport> {
    const report: SweepReport = { destroyed: [], objectsLeft: 0 };
    for (const rec of await this.#repository.expired(now)) {
      // Checked again at the moment of destruction: a legal hold placed
      // while this sweep was busy with earlier recordings is honoured.
      if (!(await this.#repository.destroyIfExpired(rec.recordingId, now))) {
        this.#log.info({ recordingId: rec.recordingId }, 'recording no longer due for destruction (legal hold placed meanwhile); kept');
        continue;
      }
      report.destroyed.push(rec.recordingId);
      await this.#audit.append({ action: 'key.data_key_destroyed', actor: 'system', subject: `recording:${rec.recordingId}`, details: { reason: 'retention' } });
      try {
        for await (const object of this.#store.list(`recordings/${rec.recordingId}/`)) {
          try {
            await this.#store.delete(object.key);
          } catch {
            report.objectsLeft += 1;
          }
        }
      } catch (err) {
        this.#log.warn({ recordingId: rec.recordingId, err: { message: (err as Error).message } }, 'objects of a destroyed recording could not be listed; they stay unreadable');
      }
      this.#log.info({ recordingId: rec.recordingId, retainUntil: rec.retainUntil.toISOString() }, 'recording destroyed after its retention period');
      this.#audit.record({
        action: 'recording.destroyed',
        actor: 'system',
        subject: `recording:${rec.recordingId}`,
        details: { retainUntil: rec.retainUntil.toISOString(), objectsLeft: report.objectsLeft },
      });
    }
    return report;
  }
}
