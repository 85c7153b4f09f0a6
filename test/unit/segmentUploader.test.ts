import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { SegmentUploader, type SpooledObject } from '../../server/domain/recordings/SegmentUploader.ts';
import type { ObjectStore } from '../../server/storage/objects/ObjectStore.ts';
import { captureLogger, tempDir } from '../support/server.ts';

/** An object store in memory that can be told to fail, like an unreachable S3. */
class MemoryStore {
  readonly objects = new Map<string, Buffer>();
  failing = false;
  attempts = 0;

  async put(key: string, body: Buffer): Promise<{ etag: string | null }> {
    this.attempts += 1;
    if (this.failing) throw new Error('connect ECONNREFUSED 127.0.0.1:9000');
    this.objects.set(key, Buffer.from(body));
    return { etag: null };
  }
}

function item(group: string, name: string, uploaded: string[]): SpooledObject {
  return {
    group,
    name,
    objectKey: `${group}/${name}`,
    contentType: 'application/octet-stream',
    retainUntil: null,
    spooledAt: Date.now(),
    onUploaded: async () => {
      uploaded.push(name);
    },
  };
}

describe('segment uploader (spool, then object storage)', () => {
  it('keeps sealed objects spooled while the store fails, then uploads them in order and empties the spool', async () => {
    const store = new MemoryStore();
    const spoolDir = tempDir();
    const { log, lines } = captureLogger();
    const uploader = new SegmentUploader({ store: store as unknown as ObjectStore, spoolDir, log, minBackoffMs: 5, maxBackoffMs: 20 });
    store.failing = true;
    const uploaded: string[] = [];
    for (const name of ['a.seg', 'b.seg', 'c.seg']) {
      uploader.writeSpool('rec-1', name, Buffer.from(`sealed ${name}`));
      uploader.enqueue(item('rec-1', name, uploaded));
    }
    // Failing attempts pile up; nothing is lost and the lag is reported.
    while (store.attempts < 4) await new Promise((r) => setTimeout(r, 5));
    expect(uploader.pending).to.equal(3);
    expect(uploader.uploadLagSeconds(Date.now() + 1000)).to.be.at.least(1);
    expect(fs.readdirSync(path.join(spoolDir, 'rec-1')).sort()).to.deep.equal(['a.seg', 'b.seg', 'c.seg']);
    expect(lines.some((l) => l.includes('keeping sealed segments spooled'))).to.equal(true);

    store.failing = false;
    uploader.retryNow();
    await uploader.whenDrained('rec-1');
    expect(uploaded).to.deep.equal(['a.seg', 'b.seg', 'c.seg']);
    expect(store.objects.get('rec-1/b.seg')?.toString()).to.equal('sealed b.seg');
    expect(fs.readdirSync(path.join(spoolDir, 'rec-1'))).to.deep.equal([]);
    expect(uploader.uploadLagSeconds()).to.equal(0);
    uploader.close();
  });

  it('does not let an object whose spool file vanished hold up the others, and counts it as lost', async () => {
    const store = new MemoryStore();
    const { log, lines } = captureLogger();
    const uploader = new SegmentUploader({ store: store as unknown as ObjectStore, spoolDir: tempDir(), log, minBackoffMs: 5 });
    const uploaded: string[] = [];
    uploader.enqueue(item('rec-2', 'gone.seg', uploaded)); // never spooled (deleted by someone)
    uploader.writeSpool('rec-2', 'next.seg', Buffer.from('sealed'));
    uploader.enqueue(item('rec-2', 'next.seg', uploaded));
    await uploader.whenDrained('rec-2');
    expect(uploaded).to.deep.equal(['next.seg']);
    expect(uploader.lost).to.equal(1);
    expect(lines.some((l) => l.includes('missing from the spool'))).to.equal(true);
    uploader.close();
  });

  it('lets waiters go when it closes with objects still spooled (they upload at the next start)', async () => {
    const store = new MemoryStore();
    store.failing = true;
    const spoolDir = tempDir();
    const uploader = new SegmentUploader({ store: store as unknown as ObjectStore, spoolDir, log: captureLogger().log, minBackoffMs: 5 });
    uploader.writeSpool('rec-3', 'a.seg', Buffer.from('sealed'));
    uploader.enqueue(item('rec-3', 'a.seg', []));
    const drained = uploader.whenDrained('rec-3');
    while (store.attempts < 1) await new Promise((r) => setTimeout(r, 5));
    uploader.close();
    await drained;
    expect(fs.existsSync(uploader.spoolPath('rec-3', 'a.seg'))).to.equal(true);
  });
});
