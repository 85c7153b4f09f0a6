import { expect } from 'chai';
import type { Router } from 'mediasoup/types';
import type { Ack } from '../../server/protocol/ack.ts';
import { connectSocket, socketClient, startTestServer, type ClientSocket, type TestServer } from '../support/server.ts';
import { signToken, signingContextOf, type SigningContext } from '../support/tokens.ts';

const FINGERPRINT = Array.from({ length: 32 }, () => 'AB').join(':');

describe('signaling requests (socket.io, typed and validated)', () => {
  let server: TestServer;
  let ctx: SigningContext;
  const open: ClientSocket[] = [];

  async function connected(role = 'host', sub = 'dr-sun'): Promise<ClientSocket> {
    const socket = socketClient(server, signToken(ctx, { role, sub }));
    open.push(socket);
    const result = await connectSocket(socket);
    expect(result.connected).to.equal(true);
    return socket;
  }

  /** Emits with any name and payload, as a buggy or hostile client might. */
  function raw(socket: ClientSocket, event: string, payload: unknown): Promise<Ack<unknown>> {
    return (socket.timeout(5000) as unknown as { emitWithAck(e: string, p: unknown): Promise<Ack<unknown>> }).emitWithAck(event, payload);
  }

  before(async () => {
    server = await startTestServer();
    ctx = signingContextOf(server);
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.disconnect();
  });
  after(() => server.stop());

  it('starts a self-test with router capabilities and two WebRTC transports on loopback (UDP and TCP)', async () => {
    const socket = await connected();
    const ack = await socket.emitWithAck('selftest:start', {});
    expect(ack.ok).to.equal(true);
    if (!ack.ok) return;
    const mimeTypes = ack.data.routerRtpCapabilities.codecs?.map((c) => c.mimeType);
    expect(mimeTypes).to.include.members(['audio/opus', 'video/VP8', 'video/H264']);
    for (const t of [ack.data.sendTransport, ack.data.recvTransport]) {
      expect(t.iceCandidates.map((c) => c.protocol).sort()).to.deep.equal(['tcp', 'udp']);
      expect(t.iceCandidates.every((c) => c.address === '127.0.0.1')).to.equal(true);
      expect(t.dtlsParameters.fingerprints.length).to.be.greaterThan(0);
    }
    expect(ack.data.sendTransport.id).not.to.equal(ack.data.recvTransport.id);
  });

  it('answers each malformed request with VALIDATION_FAILED naming the field', async () => {
    const socket = await connected();
    await socket.emitWithAck('selftest:start', {});
    const cases: Array<[string, unknown, string]> = [
      ['selftest:connectTransport', {}, 'transportId'],
      ['selftest:connectTransport', { transportId: 'not-a-uuid', dtlsParameters: { fingerprints: [] } }, 'transportId'],
      ['selftest:connectTransport', { transportId: crypto.randomUUID(), dtlsParameters: { fingerprints: [{ algorithm: 'md5', value: FINGERPRINT }] } }, 'dtlsParameters.fingerprints.0.algorithm'],
      ['selftest:produce', { transportId: crypto.randomUUID(), kind: 'smell', rtpParameters: { codecs: [] } }, 'kind'],
      ['selftest:produce', { transportId: crypto.randomUUID(), kind: 'video', rtpParameters: { codecs: [] } }, 'rtpParameters.codecs'],
      ['selftest:consume', { producerId: crypto.randomUUID() }, 'rtpCapabilities'],
      ['selftest:resumeConsumer', { consumerId: 42 }, 'consumerId'],
      ['session:whoami', { extra: true }, ''],
      ['selftest:stop', 'a string', ''],
    ];
    for (const [event, payload, field] of cases) {
      const ack = await raw(socket, event, payload);
      expect(ack.ok, `${event} ${JSON.stringify(payload)}`).to.equal(false);
      if (ack.ok) continue;
      expect(ack.error.code).to.equal('VALIDATION_FAILED');
      if (field) expect(ack.error.issues?.map((i) => i.path)).to.include(field);
    }
    // The connection survived all of it.
    expect((await socket.emitWithAck('session:whoami', {})).ok).to.equal(true);
  });

  it('refuses requests out of order with INVALID_STATE or NOT_FOUND', async () => {
    const socket = await connected();
    const beforeStart = await socket.emitWithAck('selftest:stats', {});
    expect(beforeStart.ok ? null : beforeStart.error.code).to.equal('INVALID_STATE');

    const started = await socket.emitWithAck('selftest:start', {});
    if (!started.ok) expect.fail('start failed');
    const twice = await socket.emitWithAck('selftest:start', {});
    expect(twice.ok ? null : twice.error.code).to.equal('INVALID_STATE');

    const unknownTransport = await socket.emitWithAck('selftest:connectTransport', {
      transportId: crypto.randomUUID(),
      dtlsParameters: { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: FINGERPRINT }] },
    });
    expect(unknownTransport.ok ? null : unknownTransport.error.code).to.equal('NOT_FOUND');

    const produceOnRecv = await socket.emitWithAck('selftest:produce', {
      transportId: started.data.recvTransport.id,
      kind: 'audio',
      rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }] },
    });
    expect(produceOnRecv.ok ? null : produceOnRecv.error.code).to.equal('VALIDATION_FAILED');

    const unknownProducer = await socket.emitWithAck('selftest:consume', {
      producerId: crypto.randomUUID(),
      rtpCapabilities: started.data.routerRtpCapabilities,
    });
    expect(unknownProducer.ok ? null : unknownProducer.error.code).to.equal('NOT_FOUND');

    const unsupported = await socket.emitWithAck('selftest:produce', {
      transportId: started.data.sendTransport.id,
      kind: 'video',
      rtpParameters: { codecs: [{ mimeType: 'video/MPV', payloadType: 96, clockRate: 90000 }], encodings: [{ ssrc: 1111 }] },
    });
    expect(unsupported.ok ? null : unsupported.error.code).to.equal('VALIDATION_FAILED');

    expect((await socket.emitWithAck('selftest:stop', {})).ok).to.equal(true);
    const afterStop = await socket.emitWithAck('selftest:stop', {});
    expect(afterStop.ok ? null : afterStop.error.code).to.equal('INVALID_STATE');
  });

  it('connects a transport once, then refuses a second connect', async () => {
    const socket = await connected();
    const started = await socket.emitWithAck('selftest:start', {});
    if (!started.ok) expect.fail('start failed');
    const dtls = { role: 'client' as const, fingerprints: [{ algorithm: 'sha-256' as const, value: FINGERPRINT }] };
    const first = await socket.emitWithAck('selftest:connectTransport', { transportId: started.data.sendTransport.id, dtlsParameters: dtls });
    expect(first.ok).to.equal(true);
    const second = await socket.emitWithAck('selftest:connectTransport', { transportId: started.data.sendTransport.id, dtlsParameters: dtls });
    expect(second.ok ? null : second.error.code).to.equal('INVALID_STATE');
  });

  const opus = { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 11111111 }] };

  it('produces one track per kind even when the client races, and echoes each producer once', async () => {
    const socket = await connected();
    const started = await socket.emitWithAck('selftest:start', {});
    if (!started.ok) expect.fail('start failed');
    const transportId = started.data.sendTransport.id;
    const acks = await Promise.all(
      Array.from({ length: 4 }, () => socket.emitWithAck('selftest:produce', { transportId, kind: 'audio', rtpParameters: opus })),
    );
    const produced = acks.filter((a) => a.ok);
    expect(produced).to.have.length(1);
    expect(acks.filter((a) => !a.ok && a.error.code === 'INVALID_STATE')).to.have.length(3);
    const producerId = produced[0]?.ok ? produced[0].data.producerId : '';

    const rtpCapabilities = started.data.routerRtpCapabilities;
    const first = await socket.emitWithAck('selftest:consume', { producerId, rtpCapabilities });
    expect(first.ok).to.equal(true);
    const again = await socket.emitWithAck('selftest:consume', { producerId, rtpCapabilities });
    expect(again.ok ? null : again.error.code).to.equal('INVALID_STATE');
    const stats = await socket.emitWithAck('selftest:stats', {});
    expect(stats.ok && stats.data.consumers.length).to.equal(1);
  });

  it('limits self-tests per account, across connections', async () => {
    const sockets = await Promise.all([connected('host', 'dr-many'), connected('host', 'dr-many'), connected('host', 'dr-many')]);
    const acks = await Promise.all(sockets.map((s) => s.emitWithAck('selftest:start', {})));
    expect(acks.filter((a) => a.ok)).to.have.length(2);
    const refused = acks.find((a) => !a.ok);
    expect(refused && !refused.ok ? refused.error.code : null).to.equal('RATE_LIMITED');
    // Another account is not affected.
    const other = await connected('expert', 'dr-other');
    expect((await other.emitWithAck('selftest:start', {})).ok).to.equal(true);
    // Stopping one frees a place.
    const owner = sockets[acks.findIndex((a) => a.ok)]!;
    await owner.emitWithAck('selftest:stop', {});
    const third = sockets[acks.findIndex((a) => !a.ok)]!;
    expect((await third.emitWithAck('selftest:start', {})).ok).to.equal(true);
  });

  it('refuses media to back-office roles', async () => {
    const socket = await connected('quality_reviewer', 'qc-zhou');
    const ack = await socket.emitWithAck('selftest:start', {});
    expect(ack.ok ? null : ack.error.code).to.equal('FORBIDDEN');
  });

  it('ignores an unknown event and a request without acknowledgement, and keeps serving', async () => {
    const socket = await connected();
    (socket as unknown as { emit(e: string, p: unknown): void }).emit('selftest:start', {});
    (socket as unknown as { emit(e: string, p: unknown): void }).emit('no:such:event', {});
    const ack = await socket.emitWithAck('session:whoami', {});
    expect(ack.ok).to.equal(true);
  });

  it('keeps serving other clients while one misbehaves, and frees its router when it leaves', async () => {
    const noisy = await connected('host', 'dr-noisy');
    const calm = await connected('expert', 'dr-calm');
    const worker = server.workers.workers()[0]!;
    const routerCreated = new Promise<Router>((resolve) => worker.observer.once('newrouter', resolve));
    await noisy.emitWithAck('selftest:start', {});
    const router = await routerCreated;

    const flood = Array.from({ length: 50 }, () => raw(noisy, 'selftest:produce', { junk: true }));
    const [calmAck, ...floodAcks] = await Promise.all([calm.emitWithAck('session:whoami', {}), ...flood]);
    expect(calmAck.ok).to.equal(true);
    expect(floodAcks.every((a) => !a.ok && a.error.code === 'VALIDATION_FAILED')).to.equal(true);

    const routerClosed = new Promise<void>((resolve) => router.observer.once('close', () => resolve()));
    noisy.disconnect();
    await routerClosed;
    expect(router.closed).to.equal(true);
    expect((await calm.emitWithAck('session:whoami', {})).ok).to.equal(true);
  });

  it('disconnects a socket when its token expires, saying why', async function () {
    this.timeout(15_000);
    const t = Math.floor(Date.now() / 1000);
    // Two seconds left.
    const socket = socketClient(server, signToken(ctx, { iat: t, nbf: t, exp: t + 2 }));
    open.push(socket);
    const reasons: string[] = [];
    socket.on('session:closing', ({ reason }) => reasons.push(reason));
    const closed = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    expect((await connectSocket(socket)).connected).to.equal(true);
    expect(await closed).to.equal('io server disconnect');
    expect(reasons).to.deep.equal(['token_expired']);
  });

  it('announces the configured address in ICE candidates and hands out TURN credentials', async () => {
    const announced = await startTestServer({
      env: {
        HUIZHEN_MEDIA_ANNOUNCED_ADDRESS: '203.0.113.10',
        HUIZHEN_TURN_URLS: 'turn:turn.hospital.local:3478?transport=udp, turns:turn.hospital.local:5349',
        HUIZHEN_TURN_SECRET: 'coturn-static-auth-secret',
      },
    });
    try {
      const socket = socketClient(announced, signToken(signingContextOf(announced), { role: 'host', sub: 'dr-nat' }));
      open.push(socket);
      expect((await connectSocket(socket)).connected).to.equal(true);
      const ack = await socket.emitWithAck('selftest:start', {});
      if (!ack.ok) expect.fail('start failed');
      for (const candidate of ack.data.sendTransport.iceCandidates) expect(candidate.address).to.equal('203.0.113.10');
      expect(ack.data.iceServers).to.have.length(1);
      expect(ack.data.iceServers[0]?.urls).to.deep.equal(['turn:turn.hospital.local:3478?transport=udp', 'turns:turn.hospital.local:5349']);
      expect(ack.data.iceServers[0]?.username).to.match(/^\d+:dr-nat$/);
    } finally {
      await announced.stop();
    }
  });
});
