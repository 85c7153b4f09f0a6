import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { NotFoundError, ServiceUnavailableError, ValidationError } from '../../server/errors.ts';
import { EmbeddedS3Server, EMBEDDED_S3_CREDENTIALS, S3ObjectStore } from '../../server/storage/objects/index.ts';
import { tempDir } from '../support/server.ts';

function store(endpoint: string, overrides: Partial<ConstructorParameters<typeof S3ObjectStore>[0]> = {}): S3ObjectStore {
  return new S3ObjectStore({
    endpoint,
    region: 'us-east-1',
    bucket: 'huizhen',
    prefix: 'hospital-a/',
    forcePathStyle: true,
    credentials: { ...EMBEDDED_S3_CREDENTIALS },
    checksumMode: 'WHEN_REQUIRED',
    requestTimeoutMs: 2000,
    ...overrides,
  });
}

async function expectRejects(p: Promise<unknown>, type: new (...args: never[]) => Error): Promise<void> {
  let error: unknown;
  try {
    await p;
  } catch (err) {
    error = err;
  }
  expect(error).to.be.instanceOf(type);
}

describe('object storage through the S3 client (loopback S3 server)', () => {
  let s3: EmbeddedS3Server;
  let objects: S3ObjectStore;

  before(async () => {
    s3 = await EmbeddedS3Server.start({ directory: tempDir(), port: 0, bucket: 'huizhen' });
    objects = store(s3.endpoint);
    await objects.ensureBucket();
  });
  after(async () => {
    await objects.close();
    await s3.close();
  });

  it('round-trips a streamed 1 MiB body byte for byte', async () => {
    // A streamed body is where aws-chunked framing corrupts objects on some
    // S3-protocol servers; compare what comes back, not just the length.
    const body = crypto.randomBytes(1024 * 1024);
    await objects.put('segments/0001.bin', Readable.from([body.subarray(0, 300_000), body.subarray(300_000)]), {
      contentLength: body.length,
    });
    const back = await objects.getBuffer('segments/0001.bin');
    expect(back.length).to.equal(body.length);
    expect(crypto.createHash('sha256').update(back).digest('hex')).to.equal(
      crypto.createHash('sha256').update(body).digest('hex'),
    );
  });

  it('round-trips a buffer with metadata, and reads a byte range', async () => {
    const body = Buffer.from('0123456789abcdefghij');
    await objects.put('manifests/r1.json', body, { contentType: 'application/json', metadata: { recording: 'r1' } });
    const head = await objects.head('manifests/r1.json');
    expect(head?.size).to.equal(20);
    const { body: range, contentRange } = await objects.get('manifests/r1.json', { start: 5, end: 9 });
    const chunks: Buffer[] = [];
    for await (const c of range) chunks.push(Buffer.from(c as Uint8Array));
    expect(Buffer.concat(chunks).toString()).to.equal('56789');
    expect(contentRange).to.equal('bytes 5-9/20');
  });

  it('lists by prefix (within the configured prefix) and deletes', async () => {
    await objects.put('list-test/a', Buffer.from('a'));
    await objects.put('list-test/b', Buffer.from('bb'));
    await objects.put('other/c', Buffer.from('c'));
    const listed: Array<{ key: string; size: number }> = [];
    for await (const o of objects.list('list-test/')) listed.push({ key: o.key, size: o.size });
    expect(listed).to.deep.equal([
      { key: 'list-test/a', size: 1 },
      { key: 'list-test/b', size: 2 },
    ]);
    await objects.delete('list-test/a');
    await objects.delete('list-test/a'); // deleting twice is fine
    expect(await objects.head('list-test/a')).to.equal(null);
  });

  it('keeps the configured prefix: another prefix sees nothing', async () => {
    await objects.put('isolated/x', Buffer.from('x'));
    const other = store(s3.endpoint, { prefix: 'hospital-b/' });
    expect(await other.head('isolated/x')).to.equal(null);
    await other.close();
  });

  it('answers NotFoundError for a missing object and refuses path traversal', async () => {
    await expectRejects(objects.getBuffer('nope/missing'), NotFoundError);
    await expectRejects(objects.put('../escape', Buffer.from('x')), ValidationError);
    await expectRejects(objects.put('stream-without-length', Readable.from([Buffer.from('x')])), ValidationError);
  });

  it('creates a missing bucket', async () => {
    const fresh = store(s3.endpoint, { bucket: 'huizhen-created' });
    await fresh.ensureBucket();
    await fresh.put('k', Buffer.from('v'));
    expect((await fresh.getBuffer('k')).toString()).to.equal('v');
    await fresh.close();
  });

  it('reports an unreachable store as SERVICE_UNAVAILABLE', async () => {
    const dead = store('http://127.0.0.1:9', { requestTimeoutMs: 500 });
    await expectRejects(dead.ping(500), ServiceUnavailableError);
    await expectRejects(dead.put('k', Buffer.from('v')), ServiceUnavailableError);
    await dead.close();
  });
});
