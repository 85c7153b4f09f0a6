/**
 * Gets sealed segments (and manifests) into object storage, and keeps them
 * safe until it does. Every sealed object is first written to the spool
 * directory (ciphertext only, fsync'd), then uploaded; when the store is
 * unreachable the spool simply grows and drains with backoff once it is
 * back. What is still spooled at a restart (or after a crash) is uploaded
 * then.
 *
 * Uploads run one at a time in the order objects were sealed, so that a
 * recording's storage fills in its own order.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ObjectStore } from '../../storage/objects/ObjectStore.ts';
import { writePrivateFile } from '../../pki/keyFiles.ts';

export interface SpooledObject {
  /** Groups objects for `whenDrained` (the recording id). */
  group: string;
  /** File name inside the group's spool folder. */
  name: string;
  objectKey: string;
  contentType: string;
  /** Object Lock retention, where the bucket supports it. */
  retainUntil: Date | null;
  /** Called once the object is in storage (before the spool file goes). */
  onUploaded: () => Promise<void>;
  /** When it was spooled (upload lag). */
  spooledAt: number;
}

export interface UploaderOptions {
  store: ObjectStore;
  spoolDir: string;
  log: Logger;
  /** First retry delay; doubles up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  objectLock?: boolean;
}

export class SegmentUploader {
  readonly #options: UploaderOptions;
  readonly #log: Logger;
  readonly #queue: SpooledObject[] = [];
  readonly #waiters = new Set<() => void>();
  #running = false;
  #closed = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #wakeRetry: (() => void) | undefined;
  #failures = 0;
  #lost = 0;

  constructor(options: UploaderOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'segment-uploader' });
    fs.mkdirSync(options.spoolDir, { recursive: true, mode: 0o700 });
  }

  spoolPath(group: string, name: string): string {
    return path.join(this.#options.spoolDir, group, name);
  }

  /** Writes sealed bytes to the spool durably (0600, fsync) before anything else happens to them. */
  writeSpool(group: string, name: string, sealed: Buffer): void {
    const dir = path.join(this.#options.spoolDir, group);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    writePrivateFile(path.join(dir, name), sealed);
  }

  /** Queues a spooled object for upload. */
  enqueue(item: SpooledObject): void {
    if (this.#closed) return;
    this.#queue.push(item);
    void this.#run();
  }

  /** Objects waiting for upload. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Seconds since the oldest waiting object was spooled (0 when none). */
  uploadLagSeconds(now = Date.now()): number {
    const oldest = this.#queue[0];
    return oldest ? Math.max(0, (now - oldest.spooledAt) / 1000) : 0;
  }

  /** Objects that could not be uploaded because their spool file was gone (an alert: data is missing). */
  get lost(): number {
    return this.#lost;
  }

  /** Resolves when nothing of `group` waits for upload (or the uploader closed). */
  async whenDrained(group: string): Promise<void> {
    while (!this.#closed && this.#queue.some((item) => item.group === group)) {
      await new Promise<void>((resolve) => this.#waiters.add(resolve));
    }
  }

  /** Resolves when nothing waits for upload, or after `timeoutMs` (shutdown). */
  async drainAll(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length > 0 && !this.#closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.#waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#queue.length === 0;
  }

  /** Retries now instead of at the end of the current backoff (e.g. the store is known to be back). */
  retryNow(): void {
    this.#wakeRetry?.();
  }

  /** Stops uploading; what is left stays spooled for the next start. Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#wakeRetry?.();
    for (const resolve of this.#waiters) resolve();
    this.#waiters.clear();
  }

  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (!this.#closed && this.#queue.length > 0) {
        const item = this.#queue[0] as SpooledObject;
        try {
          await this.#upload(item);
          this.#queue.shift();
          this.#failures = 0;
          this.#notify();
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
            // Retrying cannot bring it back; the others must not wait behind it.
            // Verification of its recording will name the missing segment.
            this.#queue.shift();
            this.#lost += 1;
            this.#log.error({ objectKey: item.objectKey }, 'a spooled object is missing from the spool and cannot be uploaded');
            this.#notify();
            continue;
          }
          this.#failures += 1;
          const delay = Math.min(
            (this.#options.minBackoffMs ?? 500) * 2 ** (this.#failures - 1),
            this.#options.maxBackoffMs ?? 15_000,
          );
          if (this.#failures === 1 || this.#failures % 10 === 0) {
            this.#log.warn(
              { objectKey: item.objectKey, pending: this.#queue.length, retryInMs: delay, err: { message: (err as Error).message } },
              'object store unreachable; keeping sealed segments spooled',
            );
          }
          await new Promise<void>((resolve) => {
            this.#wakeRetry = resolve;
            this.#retryTimer = setTimeout(resolve, delay);
          });
          this.#wakeRetry = undefined;
        }
      }
    } finally {
      this.#running = false;
    }
  }

  #notify(): void {
    for (const resolve of this.#waiters) resolve();
    this.#waiters.clear();
  }

  async #upload(item: SpooledObject): Promise<void> {
    const file = this.spoolPath(item.group, item.name);
    const body = fs.readFileSync(file);
    await this.#options.store.put(item.objectKey, body, {
      contentType: item.contentType,
      ...(this.#options.objectLock && item.retainUntil ? { retainUntil: item.retainUntil } : {}),
    });
    await item.onUploaded();
    fs.rmSync(file, { force: true });
    if (this.#failures > 0) this.#log.info({ objectKey: item.objectKey }, 'object store reachable again; draining spool');
  }
}
