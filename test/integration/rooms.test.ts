import { expect } from 'chai';
import { RoomClient, RequestFailed } from '../support/roomClient.ts';
import { RoomFixture, refusal } from '../support/roomFixture.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import type { ClaimOverrides } from '../support/tokens.ts';

describe('consultation rooms: membership, lobby and roles', function () {
  this.timeout(20_000);
  const fx = new RoomFixture('room');
  const client = (role: string, sub: string, extra: ClaimOverrides = {}) => fx.client(role, sub, extra);
  let server: TestServer;

  /** A host in the room and a patient admitted by them. */
  async function hostAndPatient(): Promise<[RoomClient, RoomClient]> {
    const host = await client('host', 'dr-li');
    expect((await host.join()).status).to.equal('admitted');
    const patient = await client('patient', 'pt-wang');
    const waiting = await patient.join();
    expect(waiting.status).to.equal('waiting');
    await host.request('room:admit', { peerId: patient.peerId });
    await patient.waitFor('room:admitted');
    return [host, patient];
  }

  before(async () => {
    server = await startTestServer();
    fx.use(server);
  });
  beforeEach(() => fx.next());
  afterEach(() => fx.closeAll());
  after(() => server.stop());

  it('admits the host at once with host capabilities, and sends everyone else to the lobby', async () => {
    const host = await client('host', 'dr-li');
    const joined = await host.join();
    if (joined.status !== 'admitted') expect.fail('host must be admitted');
    expect(joined.capabilities).to.deep.equal({ produce: ['mic', 'camera', 'screen'], admit: true, remove: true, endVisit: true, chat: true });
    expect(joined.peers).to.deep.equal([]);
    expect(joined.routerRtpCapabilities.codecs?.map((c) => c.mimeType)).to.include.members(['audio/opus', 'video/VP8', 'video/H264']);

    const expert = await client('expert', 'dr-zhao');
    const waiting = await expert.join();
    expect(waiting).to.include({ status: 'waiting', hostPresent: true });
    const lobby = await host.waitFor('room:lobby', (entries) => entries.length === 1);
    expect(lobby[0]).to.include({ peerId: expert.peerId, userId: 'dr-zhao', role: 'expert' });

    await host.request('room:admit', { peerId: expert.peerId });
    const admitted = await expert.waitFor('room:admitted');
    expect(admitted.self.peerId).to.equal(expert.peerId);
    expect(admitted.peers.map((p) => p.userId)).to.deep.equal(['dr-li']);
    expect(admitted.capabilities).to.include({ admit: false, endVisit: true });
    const joinedNotice = await host.waitFor('room:peerJoined');
    expect(joinedNotice.userId).to.equal('dr-zhao');
    await host.waitFor('room:lobby', (entries) => entries.length === 0);
  });

  it('keeps someone who arrives before the host in the lobby until the host admits them', async () => {
    const patient = await client('patient', 'pt-early');
    expect(await patient.join()).to.include({ status: 'waiting', hostPresent: false });
    expect(await refusal(patient.request('room:createTransport', { direction: 'send' }))).to.equal('INVALID_STATE');

    const host = await client('host', 'dr-li');
    const joined = await host.join();
    if (joined.status !== 'admitted') expect.fail('host must be admitted');
    expect(joined.lobby.map((e) => e.userId)).to.deep.equal(['pt-early']);
    expect(patient.count('room:admitted')).to.equal(0);
    await host.request('room:admit', { peerId: patient.peerId });
    await patient.waitFor('room:admitted');
  });

  describe('the lobby cannot be bypassed', () => {
    it('an earlier admission is not reusable: leaving and coming back means waiting again', async () => {
      const [host, patient] = await hostAndPatient();
      await patient.request('room:leave', {});
      await host.waitFor('room:peerLeft', (n) => n.peerId === patient.peerId && n.reason === 'left');
      const again = await patient.join();
      expect(again.status).to.equal('waiting');
      expect(again.status === 'waiting' && again.peerId).not.to.equal(patient.admitted?.self.peerId);
    });

    it('a resume token works only for its own user and participant, and only once', async () => {
      const [, patient] = await hostAndPatient();
      const { peerId } = patient.admitted!.self;
      const token = patient.admitted!.resumeToken;

      // Another user holding the stolen token.
      const thief = await client('patient', 'pt-thief');
      expect(await refusal(thief.request('room:join', { resume: { peerId, resumeToken: token } }))).to.equal('INVALID_STATE');
      // The right user with a wrong token.
      const twin = await client('patient', 'pt-wang');
      expect(await refusal(twin.request('room:join', { resume: { peerId, resumeToken: 'x'.repeat(43) } }))).to.equal('INVALID_STATE');

      // The right user and token resume once; the token is then spent.
      const resumed = await twin.request('room:join', { resume: { peerId, resumeToken: token } });
      expect(resumed.status).to.equal('admitted');
      const third = await client('patient', 'pt-wang');
      expect(await refusal(third.request('room:join', { resume: { peerId, resumeToken: token } }))).to.equal('INVALID_STATE');
    });

    it('another participant id, another user id or a forged role still goes through the lobby', async () => {
      const [host] = await hostAndPatient();
      const other = await client('patient', 'pt-other');
      expect((await other.join()).status).to.equal('waiting');
      // The room comes from the token; a payload naming another room is refused.
      expect(await refusal(other.request('room:join', { roomId: 'room-elsewhere' } as never))).to.equal('VALIDATION_FAILED');
      // A patient cannot admit themselves, nor can an expert admit anyone.
      expect(await refusal(other.request('room:admit', { peerId: other.peerId }))).to.equal('INVALID_STATE');
      const expert = await client('expert', 'dr-zhao');
      await expert.join();
      await host.request('room:admit', { peerId: expert.peerId });
      await expert.waitFor('room:admitted');
      expect(await refusal(expert.request('room:admit', { peerId: other.peerId }))).to.equal('FORBIDDEN');
      expect(other.count('room:admitted')).to.equal(0);
    });

    it('a token naming no room, or a back-office role, cannot join at all', async () => {
      const noRoom = fx.track(await RoomClient.connect(server, fx.token({ role: 'patient', sub: 'pt-x', room: undefined })));
      expect(await refusal(noRoom.join())).to.equal('FORBIDDEN');
      for (const role of ['quality_reviewer', 'records_staff', 'approver', 'institution_admin']) {
        const c = await client(role, `staff-${role}`);
        expect(await refusal(c.join()), role).to.equal('FORBIDDEN');
      }
    });
  });

  it('lets a second device of the same person replace the first, through admission again', async () => {
    const [host, patient] = await hostAndPatient();
    const second = await client('patient', 'pt-wang');
    expect((await second.join()).status).to.equal('waiting');
    const notice = await patient.waitFor('room:peerLeft', (n) => n.peerId === patient.peerId);
    expect(notice.reason).to.equal('replaced');
    await host.waitFor('room:peerLeft', (n) => n.peerId === patient.peerId && n.reason === 'replaced');
    expect(await refusal(patient.request('chat:send', { text: 'still here?' }))).to.equal('NOT_FOUND');
  });

  it('tells a waiting connection when the same person arrives from another device', async () => {
    const host = await client('host', 'dr-li');
    await host.join();
    const first = await client('patient', 'pt-zhou');
    await first.join();
    const second = await client('patient', 'pt-zhou');
    await second.join();
    expect(await first.waitFor('room:peerLeft')).to.deep.equal({ peerId: first.peerId, reason: 'replaced' });
    const lobby = await host.waitFor('room:lobby', (entries) => entries.length === 1 && entries[0]?.peerId === second.peerId);
    expect(lobby).to.have.length(1);
  });

  it('lets the host deny a waiting participant and remove an admitted one', async () => {
    const [host, patient] = await hostAndPatient();
    const stranger = await client('observer', 'obs-1');
    await stranger.join();
    await host.request('room:deny', { peerId: stranger.peerId });
    await stranger.waitFor('room:denied');

    await host.request('room:remove', { peerId: patient.peerId });
    const notice = await patient.waitFor('room:peerLeft', (n) => n.peerId === patient.peerId);
    expect(notice.reason).to.equal('removed');
    expect(await refusal(patient.request('room:createTransport', { direction: 'send' }))).to.equal('NOT_FOUND');
    // Coming back means the lobby again.
    expect((await patient.join()).status).to.equal('waiting');
    expect(await refusal(host.request('room:remove', { peerId: host.peerId }))).to.equal('VALIDATION_FAILED');
  });

  it('applies the role × action table', async () => {
    const host = await client('host', 'dr-host');
    await host.join();
    const members: Record<string, RoomClient> = { host };
    for (const [role, sub] of [['expert', 'dr-exp'], ['patient', 'pt-p'], ['observer', 'obs-o']] as const) {
      const c = await client(role, sub);
      await c.join();
      await host.request('room:admit', { peerId: c.peerId });
      await c.waitFor('room:admitted');
      await c.setUpMedia();
      members[role] = c;
    }
    await host.setUpMedia();
    const victim = await client('patient', 'pt-victim');
    await victim.join();
    await host.request('room:admit', { peerId: victim.peerId });
    await victim.waitFor('room:admitted');

    const expected: Record<string, Record<string, string>> = {
      host: { mic: 'OK', camera: 'OK', screen: 'OK', chat: 'OK', remove: 'OK' },
      expert: { mic: 'OK', camera: 'OK', screen: 'OK', chat: 'OK', remove: 'FORBIDDEN' },
      patient: { mic: 'OK', camera: 'OK', screen: 'FORBIDDEN', chat: 'OK', remove: 'FORBIDDEN' },
      observer: { mic: 'FORBIDDEN', camera: 'FORBIDDEN', screen: 'FORBIDDEN', chat: 'FORBIDDEN', remove: 'FORBIDDEN' },
    };
    const outcome = async (p: Promise<unknown>) => {
      try {
        await p;
        return 'OK';
      } catch (err) {
        return (err as { code?: string }).code ?? String(err);
      }
    };
    for (const [role, row] of Object.entries(expected)) {
      const c = members[role]!;
      const actual: Record<string, string> = {};
      for (const source of ['mic', 'camera', 'screen'] as const) actual[source] = await outcome(c.produce(source));
      actual['chat'] = await outcome(c.request('chat:send', { text: `hello from ${role}` }));
      actual['remove'] = role === 'host' ? 'OK' : await outcome(c.request('room:remove', { peerId: victim.peerId }));
      expect(actual, role).to.deep.equal(row);
    }
    // End of visit last: only host or expert; a patient or observer cannot.
    expect(await refusal(members['patient']!.request('room:end', {}))).to.equal('FORBIDDEN');
    expect(await refusal(members['observer']!.request('room:end', {}))).to.equal('FORBIDDEN');
    await host.request('room:remove', { peerId: victim.peerId });
    await members['expert']!.request('room:end', {});
    for (const c of Object.values(members)) expect((await c.waitFor('room:closed')).reason).to.equal('visit_ended');
  });

  it('ends the visit for good: the room cannot be entered again', async () => {
    const [host] = await hostAndPatient();
    await host.request('room:end', {});
    const again = await client('host', 'dr-li');
    const result = await again.attempt('room:join', {});
    expect(result.ok ? null : result.error).to.include({ code: 'INVALID_STATE', message: 'this visit has ended' });
    const row = await server.db.query<{ ended_by: string }>('SELECT ended_by FROM consultation_rooms WHERE room_id = $1', [fx.room]);
    expect(row.rows[0]?.ended_by).to.equal('dr-li');
  });

  it('refuses room requests before joining, and a second join on one connection', async () => {
    const host = await client('host', 'dr-li');
    expect(await refusal(host.request('room:createTransport', { direction: 'recv' }))).to.equal('INVALID_STATE');
    expect(await refusal(host.request('chat:send', { text: 'hi' }))).to.equal('INVALID_STATE');
    await host.join();
    expect(await refusal(host.join())).to.equal('INVALID_STATE');
  });
});
