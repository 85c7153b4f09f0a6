import { expect } from 'chai';
import type { Router } from 'mediasoup/types';
import { RoomClient, RequestFailed } from '../support/roomClient.ts';
import { RoomFixture, refusal } from '../support/roomFixture.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import type { ClaimOverrides } from '../support/tokens.ts';

describe('consultation rooms: media signaling, reconnects and failures', function () {
  this.timeout(30_000);
  const fx = new RoomFixture('media-room');
  const client = (role: string, sub: string, extra: ClaimOverrides = {}) => fx.client(role, sub, extra);
  let server: TestServer;

  /** Host and patient admitted, both with media set up. */
  async function visit(): Promise<[RoomClient, RoomClient]> {
    const host = await client('host', 'dr-li');
    await host.join();
    const patient = await client('patient', 'pt-wang');
    await patient.join();
    await host.request('room:admit', { peerId: patient.peerId });
    await patient.waitFor('room:admitted');
    await host.setUpMedia();
    await patient.setUpMedia();
    return [host, patient];
  }

  before(async () => {
    // Two workers, so that a room survives one of them dying; a short grace.
    server = await startTestServer({ overrides: { media: { workers: 2 }, rooms: { reconnectGraceSeconds: 5 } } });
    fx.use(server);
  });
  beforeEach(() => fx.next());
  afterEach(() => fx.closeAll());
  after(() => server.stop());

  it('creates consumers on the server’s initiative, for what is sent before and after joining', async () => {
    const [host, patient] = await visit();
    await host.produce('mic');
    await host.produce('camera');
    const mic = await patient.waitFor('room:newConsumer', (c) => c.source === 'mic');
    const camera = await patient.waitFor('room:newConsumer', (c) => c.source === 'camera');
    expect(mic).to.include({ peerId: host.peerId, kind: 'audio' });
    expect(camera).to.include({ peerId: host.peerId, kind: 'video' });
    // Simulcast: three spatial layers offered to the receiver.
    expect(camera.rtpParameters.encodings?.[0]?.scalabilityMode).to.match(/^L3T/);
    const media = await patient.waitFor('room:peerMedia', (m) => m.producers.length === 2);
    expect(media.producers.map((p) => p.source).sort()).to.deep.equal(['camera', 'mic']);

    // An expert admitted later receives what is already being sent.
    const expert = await client('expert', 'dr-zhao');
    await expert.join();
    await host.request('room:admit', { peerId: expert.peerId });
    const admitted = await expert.waitFor('room:admitted');
    expect(admitted.peers.find((p) => p.peerId === host.peerId)?.producers.map((p) => p.source).sort()).to.deep.equal(['camera', 'mic']);
    await expert.setUpMedia();
    await expert.waitFor('room:newConsumer', (c) => c.peerId === host.peerId && c.source === 'camera');
    await expert.waitFor('room:newConsumer', (c) => c.peerId === host.peerId && c.source === 'mic');
    // And the host receives the expert's screen share as its own producer.
    await expert.produce('screen');
    const screen = await host.waitFor('room:newConsumer', (c) => c.source === 'screen');
    expect(screen).to.include({ peerId: expert.peerId, kind: 'video' });
  });

  it('tells receivers when a source is paused, resumed and closed', async () => {
    const [host, patient] = await visit();
    const mic = await patient.produce('mic');
    const consumer = await host.waitFor('room:newConsumer', (c) => c.source === 'mic');
    await patient.request('room:pauseProducer', { producerId: mic.id });
    expect(await host.waitFor('room:producerPaused')).to.deep.equal({ consumerId: consumer.consumerId, peerId: patient.peerId, source: 'mic' });
    await host.waitFor('room:peerMedia', (m) => m.peerId === patient.peerId && m.producers[0]?.paused === true);
    await patient.request('room:resumeProducer', { producerId: mic.id });
    await host.waitFor('room:producerResumed');
    await patient.request('room:closeProducer', { producerId: mic.id });
    expect(await host.waitFor('room:consumerClosed')).to.deep.equal({ consumerId: consumer.consumerId });
  });

  it('answers malformed and out-of-order media requests with coded errors', async () => {
    const [host, patient] = await visit();
    const sendId = host.send!.id;
    const opus = { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 1234 }] };
    const attempts: Array<[string, Promise<unknown>, string]> = [
      ['mic declared as video', host.request('room:produce', { transportId: sendId, kind: 'video', source: 'mic', rtpParameters: opus }), 'VALIDATION_FAILED'],
      ['unknown source', host.attempt('room:produce', { transportId: sendId, kind: 'audio', source: 'tv' as never, rtpParameters: opus }).then(toThrow), 'VALIDATION_FAILED'],
      ['produce on the receive transport', host.request('room:produce', { transportId: host.recv!.id, kind: 'audio', source: 'mic', rtpParameters: opus }), 'VALIDATION_FAILED'],
      ['another participant’s transport', host.request('room:connectTransport', { transportId: patient.send!.id, dtlsParameters: { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: Array(32).fill('AB').join(':') }] } }), 'NOT_FOUND'],
      ['unknown consumer', host.request('room:resumeConsumer', { consumerId: crypto.randomUUID() }), 'NOT_FOUND'],
      ['unknown producer', host.request('room:pauseProducer', { producerId: crypto.randomUUID() }), 'NOT_FOUND'],
      ['layers out of range', host.attempt('room:setPreferredLayers', { consumerId: crypto.randomUUID(), spatialLayer: 9 }).then(toThrow), 'VALIDATION_FAILED'],
      ['chat too long', host.request('chat:send', { text: 'x'.repeat(2001) }), 'VALIDATION_FAILED'],
      ['empty chat', host.attempt('chat:send', { text: '' }).then(toThrow), 'VALIDATION_FAILED'],
    ];
    for (const [what, attempt, code] of attempts) expect(await refusal(attempt), what).to.equal(code);

    await host.produce('mic');
    expect(await refusal(host.produce('mic')), 'second microphone').to.equal('INVALID_STATE');
    const audio = await patient.waitFor('room:newConsumer', (c) => c.source === 'mic');
    expect(await refusal(patient.request('room:setPreferredLayers', { consumerId: audio.consumerId, spatialLayer: 0 }))).to.equal('VALIDATION_FAILED');
    // Everything still works afterwards.
    expect((await patient.request('chat:send', { text: '您好' })).seq).to.be.a('number');
  });

  it('delivers chat in order, stores it with the visit, and gives it to late arrivals', async () => {
    const [host, patient] = await visit();
    const texts = Array.from({ length: 6 }, (_, i) => `消息 ${i + 1}`);
    // Both send at once; the server's order is the order everyone sees.
    const sent = await Promise.all(texts.map((text, i) => (i % 2 ? patient : host).request('chat:send', { text })));
    expect(sent.map((m) => m.seq).sort()).to.deep.equal([1, 2, 3, 4, 5, 6]);
    const fromPatient = sent.filter((m) => m.userId === 'pt-wang').map((m) => m.seq);
    await host.waitFor('chat:message', (m) => m.seq === Math.max(...fromPatient));
    expect((host.received['chat:message'] ?? []).map((m) => m.seq)).to.deep.equal(fromPatient.sort((a, b) => a - b));
    const stored = await server.db.query<{ seq: number; body: string; sender_user_id: string }>(
      'SELECT seq, body, sender_user_id FROM room_chat_messages WHERE room_id = $1 ORDER BY seq',
      [fx.room],
    );
    const bySeq = [...sent].sort((a, b) => a.seq - b.seq);
    expect(stored.rows.map((r) => r.body)).to.deep.equal(bySeq.map((m) => m.text));
    expect(stored.rows.map((r) => r.sender_user_id)).to.deep.equal(bySeq.map((m) => m.userId));

    const expert = await client('expert', 'dr-zhao');
    await expert.join();
    await host.request('room:admit', { peerId: expert.peerId });
    const admitted = await expert.waitFor('room:admitted');
    expect(admitted.chat.map((m) => m.text)).to.deep.equal(bySeq.map((m) => m.text));

    const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => patient.attempt('chat:send', { text: `快 ${i}` })));
    expect(burst.some((a) => !a.ok && a.error.code === 'RATE_LIMITED')).to.equal(true);
  });

  it('keeps a participant whose connection drops for the grace period: same id, same producers, no churn', async () => {
    const [host, patient] = await visit();
    const mic = await patient.produce('mic');
    const consumer = await host.waitFor('room:newConsumer', (c) => c.source === 'mic');
    const { peerId } = patient.admitted!.self;
    const resumeToken = patient.admitted!.resumeToken;

    patient.socket.disconnect(); // the network drops
    const back = await client('patient', 'pt-wang');
    const resumed = await back.join({ peerId, resumeToken });
    if (resumed.status !== 'admitted') expect.fail('resume must admit');
    expect(resumed.resumed).to.equal(true);
    expect(resumed.self.peerId).to.equal(peerId);
    expect(resumed.self.producers.map((p) => p.producerId)).to.deep.equal([mic.id]);
    expect(resumed.resumeToken).not.to.equal(resumeToken);
    // Its transports survived: ICE can be restarted on them.
    const ice = await back.request('room:restartIce', { transportId: patient.send!.id });
    expect(ice.iceParameters.usernameFragment).to.be.a('string');

    // The host saw nothing leave or join, and its consumer is intact.
    expect(host.count('room:peerLeft')).to.equal(0);
    expect(host.count('room:peerJoined')).to.equal(1);
    expect(host.count('room:consumerClosed')).to.equal(0);
    expect(consumer.producerId).to.equal(mic.id);
  });

  it('leaves no ghost when the connection drops while its join is still being served', async function () {
    this.timeout(20_000);
    const host = await client('host', 'dr-ghost');
    // Join and vanish at once: the room opens (database, router) after the socket is gone.
    const joining = host.attempt('room:join', {}).catch(() => undefined);
    host.socket.disconnect();
    await joining;
    // Within the grace period the place is held; then the room empties and closes.
    const deadline = Date.now() + 12_000;
    let opened = false;
    while (!opened && Date.now() < deadline) {
      opened = server.rooms.get(fx.room) !== undefined || (await server.db.query('SELECT 1 FROM consultation_rooms WHERE room_id = $1', [fx.room])).rowCount > 0;
      if (!opened) await new Promise((r) => setTimeout(r, 50));
    }
    expect(opened, 'the join reached the server').to.equal(true);
    while (server.rooms.get(fx.room) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(server.rooms.get(fx.room), 'the room closed after the grace period').to.equal(undefined);
  });

  it('lets the participant go when the grace period passes without a reconnect', async function () {
    this.timeout(20_000);
    const [host, patient] = await visit();
    await patient.produce('camera');
    await host.waitFor('room:newConsumer', (c) => c.source === 'camera');
    const started = Date.now();
    patient.socket.disconnect();
    const left = await host.waitFor('room:peerLeft', () => true, 15_000);
    expect(left).to.deep.equal({ peerId: patient.peerId, reason: 'connection_lost' });
    expect(Date.now() - started).to.be.at.least(4500);
    await host.waitFor('room:consumerClosed');
    const back = await client('patient', 'pt-wang');
    expect(await refusal(back.request('room:join', { resume: { peerId: patient.peerId, resumeToken: patient.admitted!.resumeToken } }))).to.equal('INVALID_STATE');
  });

  it('rebuilds the room on a live worker when its worker is killed, and media can be set up again', async function () {
    this.timeout(30_000);
    const [host, patient] = await visit();
    await host.produce('camera');
    await patient.waitFor('room:newConsumer', (c) => c.source === 'camera');

    // Find the worker hosting this room's router and kill it.
    const routerId = server.rooms.get(fx.room)?.routerId;
    let victimPid = 0;
    for (const worker of server.workers.workers()) {
      if ((await worker.dump()).routerIds.includes(routerId as string)) victimPid = worker.pid;
    }
    expect(victimPid).to.be.greaterThan(0);
    const newRouter = new Promise<Router>((resolve) => {
      for (const worker of server.workers.workers()) if (worker.pid !== victimPid) worker.observer.once('newrouter', resolve);
    });
    process.kill(victimPid, 'SIGKILL');

    const [resetHost, resetPatient] = await Promise.all([host.waitFor('room:mediaReset'), patient.waitFor('room:mediaReset')]);
    expect((await newRouter).closed).to.equal(false);
    expect(resetHost.routerRtpCapabilities.codecs?.length).to.be.greaterThan(0);
    // Nobody left: the membership survived the failure.
    expect(host.count('room:peerLeft') + patient.count('room:peerLeft')).to.equal(0);

    // Clients set their media up again on the new router.
    const consumersBefore = patient.count('room:newConsumer');
    await host.setUpMedia(resetHost);
    await patient.setUpMedia(resetPatient);
    await host.produce('camera');
    await patient.waitFor('room:newConsumer', (c) => c.source === 'camera' && patient.count('room:newConsumer') > consumersBefore);
    expect(server.workers.liveWorkerCount()).to.be.at.least(1);
  });

  it('disconnects a participant whose token expires, unless it refreshed the token first', async function () {
    this.timeout(20_000);
    const t = Math.floor(Date.now() / 1000);
    const host = await client('host', 'dr-li');
    await host.join();
    const patient = await client('patient', 'pt-wang', { iat: t, nbf: t, exp: t + 3 });
    const refresher = await client('expert', 'dr-zhao', { iat: t, nbf: t, exp: t + 3 });
    for (const c of [patient, refresher]) {
      await c.join();
      await host.request('room:admit', { peerId: c.peerId });
      await c.waitFor('room:admitted');
    }
    // A token for someone else cannot take over the connection.
    const foreign = fx.token({ role: 'expert', sub: 'dr-other' });
    expect(await refusal(refresher.request('session:refreshToken', { token: foreign }))).to.equal('FORBIDDEN');
    const fresh = fx.token({ role: 'expert', sub: 'dr-zhao', name: 'dr-zhao', exp: t + 600 });
    expect((await refresher.request('session:refreshToken', { token: fresh })).expiresAt).to.equal(t + 600);

    const closing = await patient.waitFor('session:closing', () => true, 10_000);
    expect(closing.reason).to.equal('token_expired');
    expect(await host.waitFor('room:peerLeft', (n) => n.peerId === patient.peerId)).to.include({ reason: 'token_expired' });
    // The refreshed participant is still in the room and served.
    expect(refresher.socket.connected).to.equal(true);
    expect((await refresher.request('chat:send', { text: '还在' })).text).to.equal('还在');
    expect(host.received['room:peerLeft']?.some((n) => n.peerId === refresher.peerId)).to.equal(false);
  });

  it('pauses video before audio when a receiver’s bandwidth collapses, and resumes it when it recovers', async () => {
    const [host, patient] = await visit();
    await host.produce('mic');
    await host.produce('camera');
    const video = await patient.waitFor('room:newConsumer', (c) => c.source === 'camera');
    const audio = await patient.waitFor('room:newConsumer', (c) => c.source === 'mic');
    const controller = server.rooms.get(fx.room)?.bandwidthOf(patient.peerId);
    expect(controller).to.not.equal(undefined);

    // One bad sample is noise: nothing is paused for it.
    const t0 = Date.now();
    controller!.estimate(90_000, t0 - 10_000);
    await controller!.settled();
    expect(patient.count('room:consumerPaused')).to.equal(0);

    // A rural link at its worst for the whole window: room for voice only.
    for (const ago of [3000, 2000, 1000, 0]) controller!.estimate(90_000, t0 - ago);
    await controller!.settled();
    expect(await patient.waitFor('room:consumerPaused')).to.deep.equal({ consumerId: video.consumerId, reason: 'bandwidth' });
    expect(patient.received['room:consumerPaused']?.some((n) => n.consumerId === audio.consumerId)).to.equal(false);

    // A brief recovery does not resume it; a sustained one does.
    controller!.estimate(3_000_000, t0 + 100);
    await controller!.settled();
    expect(patient.count('room:consumerResumed')).to.equal(0);
    for (const later of [1000, 2000, 3200]) controller!.estimate(3_000_000, t0 + later);
    await controller!.settled();
    expect(await patient.waitFor('room:consumerResumed')).to.deep.equal({ consumerId: video.consumerId, reason: 'bandwidth' });
  });
});

/** Turns a failed ack into a RequestFailed, for uniform assertions. */
function toThrow(ack: { ok: boolean; error?: { code: string; message: string } }): void {
  if (!ack.ok && ack.error) throw new RequestFailed('request', ack.error.code, ack.error.message);
}
