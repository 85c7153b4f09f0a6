import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { expect } from 'chai';
import type { PlainTransport, Router } from 'mediasoup/types';
import { WorkerPool } from '../../server/media/WorkerPool.ts';
import { captureLogger } from '../support/server.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('mediasoup worker built offline', () => {
  let pool: WorkerPool;
  before(async () => {
    pool = await WorkerPool.create({ size: 1, logLevel: 'warn', log: captureLogger().log });
  });
  after(() => pool.close());

  it('is the binary from the project build cache', () => {
    const require = createRequire(import.meta.url);
    // mediasoup's exports map hides package.json; its main is node/lib/index.js.
    const packageDir = path.resolve(path.dirname(require.resolve('mediasoup')), '../..');
    const installed = path.join(packageDir, 'worker/out/Release/mediasoup-worker');
    const cached = execFileSync('bash', [path.join(ROOT, 'scripts/mediasoup/build-worker.sh'), '--print-path']).toString().trim();
    expect(fs.existsSync(cached), `cached worker ${cached}`).to.equal(true);
    expect(sha256(installed)).to.equal(sha256(cached));
    expect(process.env['MEDIASOUP_WORKER_BIN'] ?? null).to.equal(null);
  });

  it('routes RTP: ffmpeg → PlainTransport producer → router → PlainTransport consumer → UDP sink', async function () {
    this.timeout(30_000);
    const router: Router = await pool.createRouter();
    const sink = dgram.createSocket('udp4');
    let ffmpeg: ChildProcess | undefined;
    try {
      await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
      const sinkPort = sink.address().port;

      // ffmpeg sends RTCP from another socket: without rtcpMux the comedia
      // transport learns RTP and RTCP ports separately.
      const input: PlainTransport = await router.createPlainTransport({
        listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
        rtcpMux: false,
        comedia: true,
      });
      const ssrc = 22222222;
      const producer = await input.produce({
        kind: 'video',
        rtpParameters: {
          codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000 }],
          encodings: [{ ssrc }],
        },
      });

      const output = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
      await output.connect({ ip: '127.0.0.1', port: sinkPort });
      const consumer = await output.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
      const outSsrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
      const outPt = consumer.rtpParameters.codecs[0]?.payloadType;

      let packets = 0;
      let lastSeq = -1;
      sink.on('message', (msg) => {
        // RTP version 2, our SSRC and payload type, increasing sequence numbers.
        if (msg.length < 12 || msg[0]! >> 6 !== 2 || (msg[1]! & 0x7f) !== outPt || msg.readUInt32BE(8) !== outSsrc) return;
        const seq = msg.readUInt16BE(2);
        if (seq !== lastSeq) packets += 1;
        lastSeq = seq;
      });

      const rtcpPort = input.rtcpTuple?.localPort ?? (await input.getStats())[0]?.rtcpTuple?.localPort;
      ffmpeg = spawn('ffmpeg', [
        '-nostdin', '-loglevel', 'error', '-re',
        '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15',
        '-t', '20', '-an',
        '-c:v', 'libvpx', '-b:v', '300k', '-deadline', 'realtime', '-cpu-used', '8', '-g', '15',
        '-ssrc', String(ssrc), '-payload_type', '101',
        '-f', 'rtp', `rtp://127.0.0.1:${input.tuple.localPort}?rtcpport=${rtcpPort}&pkt_size=1200`,
      ], { stdio: ['ignore', 'ignore', 'pipe'] });

      // Bounded wait: enough packets arrive well within ffmpeg's 20 s.
      const deadline = Date.now() + 15_000;
      while (packets < 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

      const producerStats = await producer.getStats();
      const consumerStats = (await consumer.getStats()).filter((s) => s.type === 'outbound-rtp');
      expect(packets, 'RTP packets at the sink').to.be.at.least(60);
      expect(producerStats[0]?.byteCount ?? 0).to.be.greaterThan(10_000);
      expect(consumerStats[0]?.byteCount ?? 0).to.be.greaterThan(10_000);
      const before = consumerStats[0]?.byteCount ?? 0;
      await new Promise((r) => setTimeout(r, 500));
      const after = (await consumer.getStats()).find((s) => s.type === 'outbound-rtp')?.byteCount ?? 0;
      expect(after, 'byte counter keeps rising').to.be.greaterThan(before);
    } finally {
      ffmpeg?.kill('SIGKILL');
      sink.close();
      router.close();
    }
  });

  it('replaces a worker that is killed, and counts the death', async function () {
    this.timeout(15_000);
    let deaths = 0;
    const local = await WorkerPool.create({ size: 1, logLevel: 'warn', log: captureLogger().log, onWorkerDeath: () => deaths++, replaceDelayMs: 50 });
    try {
      const victim = local.workers()[0]!;
      const died = new Promise((resolve) => local.events.once('workerdied', resolve));
      const added = new Promise<{ pid: number }>((resolve) => local.events.once('workeradded', resolve));
      process.kill(victim.pid, 'SIGKILL');
      await died;
      expect(local.liveWorkerCount()).to.equal(0);
      const { pid } = await added;
      expect(pid).not.to.equal(victim.pid);
      expect(local.liveWorkerCount()).to.equal(1);
      expect(deaths).to.equal(1);
      const router = await local.createRouter();
      expect(router.closed).to.equal(false);
    } finally {
      local.close();
    }
  });

  it('places each new router on the least-loaded worker', async () => {
    const local = await WorkerPool.create({ size: 2, logLevel: 'warn', log: captureLogger().log });
    try {
      // Created together: the pool counts routers still being created.
      const routers = await Promise.all(Array.from({ length: 4 }, () => local.createRouter()));
      const perWorker = await Promise.all(local.workers().map(async (w) => (await w.dump()).routerIds.length));
      expect(perWorker).to.deep.equal([2, 2]);
      routers[0]!.close();
      const before = await Promise.all(local.workers().map(async (w) => ({ pid: w.pid, ids: (await w.dump()).routerIds })));
      const lighter = before.reduce((a, b) => (b.ids.length < a.ids.length ? b : a));
      const next = await local.createRouter();
      const after = await Promise.all(local.workers().map(async (w) => ({ pid: w.pid, ids: (await w.dump()).routerIds })));
      expect(after.find((w) => w.pid === lighter.pid)?.ids).to.include(next.id);
    } finally {
      local.close();
    }
  });
});
