/**
 * Tiered approval before playback, playback through the server, and the
 * audit trail of it all — against a real server with real recordings
 * (ffmpeg, S3 protocol on loopback).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import type { IncomingMessage } from 'node:http';
import { loadApprovalPolicy } from '../../server/domain/approvals/ApprovalPolicy.ts';
import { ApprovalService } from '../../server/domain/approvals/ApprovalService.ts';
import { verifyChain } from '../../server/domain/audit/verifyChain.ts';
import { verifyCanonical } from '../../server/pki/signatures.ts';
import type { PlaybackRequestView, PlayStart } from '../../server/protocol/playback.ts';
import { PlaybackRepository } from '../../server/storage/repositories/PlaybackRepository.ts';
import { recordVisit } from '../support/recordedVisit.ts';
import { RoomFixture } from '../support/roomFixture.ts';
import { httpsRequest, startTestServer, tempDir, type HttpResult, type TestServer } from '../support/server.ts';
import { signToken, signingContextOf, type ClaimOverrides } from '../support/tokens.ts';

const POLICY_DIR = new URL('../../recordings-config', import.meta.url).pathname;

describe('playback approval, playback and audit', function () {
  this.timeout(120_000);
  const fx = new RoomFixture('pb-room');
  let server: TestServer;
  let recordingA = '';
  let recordingB = '';
  let exportA: Buffer;

  const people = {
    reviewer: { sub: 'qr-zhao', role: 'quality_reviewer', name: '赵质控' },
    records: { sub: 'rs-qian', role: 'records_staff', name: '钱病案' },
    head: { sub: 'ap-chen', role: 'approver', name: '陈主任', dept: 'cardiology', positions: ['department_head'] },
    otherHead: { sub: 'ap-zhou', role: 'approver', name: '周主任', dept: 'neurology', positions: ['department_head'] },
    affairs: { sub: 'ap-sun', role: 'approver', name: '孙医务', dept: 'medical_affairs_office', positions: ['medical_affairs'] },
    // Heads cardiology and also sits in medical affairs: may approve one tier only.
    both: { sub: 'ap-wu', role: 'approver', name: '吴主任', dept: 'cardiology', positions: ['department_head', 'medical_affairs'] },
    // The doctor of the recorded visit, who is also cardiology's head.
    participant: { sub: 'dr-li', role: 'approver', name: '李医生', dept: 'cardiology', positions: ['department_head'] },
    director: { sub: 'dd-he', role: 'approver', name: '何总值班', positions: ['duty_director'] },
    host: { sub: 'dr-li', role: 'host', name: '李医生', room: 'pb-room-1' },
  } satisfies Record<string, ClaimOverrides>;
  type Who = keyof typeof people;

  function token(who: Who): string {
    const { room, ...rest } = people[who] as ClaimOverrides;
    return signToken(signingContextOf(server), { room, ...rest });
  }

  function call(who: Who, method: string, pathname: string, body?: unknown): Promise<HttpResult> {
    return httpsRequest(`https://127.0.0.1:${server.port}${pathname}`, {
      ca: server.ca,
      method,
      headers: { Authorization: `Bearer ${token(who)}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  function media(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer; json: any }> {
    return new Promise((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${server.port}${url}`, { ca: server.ca, headers, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            let json: unknown;
            try {
              json = JSON.parse(body.toString('utf8'));
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
          });
          res.on('error', reject);
        })
        .on('error', reject);
    });
  }

  async function requestPlayback(recordingId: string, who: Who = 'reviewer'): Promise<PlaybackRequestView> {
    const r = await call(who, 'POST', '/api/playback-requests', { recordingId, purpose: '医疗质量抽查：复核会诊过程', caseReference: 'QC-2026-118' });
    expect(r.status, r.text).to.equal(201);
    return r.json as PlaybackRequestView;
  }

  const decide = (who: Who, requestId: string, tier: string, decision: 'approve' | 'deny' = 'approve', comment = '同意') =>
    call(who, 'POST', `/api/playback-requests/${requestId}/decisions`, { tier, decision, comment });

  async function grantedRequest(recordingId: string): Promise<PlaybackRequestView> {
    const req = await requestPlayback(recordingId);
    expect((await decide('head', req.requestId, 'department_head')).status).to.equal(200);
    const done = await decide('affairs', req.requestId, 'medical_affairs');
    expect(done.status, done.text).to.equal(200);
    expect(done.json.status).to.equal('granted');
    return done.json as PlaybackRequestView;
  }

  async function play(requestId: string, who: Who = 'reviewer'): Promise<PlayStart> {
    const r = await call(who, 'POST', `/api/playback-requests/${requestId}/plays`);
    expect(r.status, r.text).to.equal(201);
    return r.json as PlayStart;
  }

  async function auditOf(subject: string) {
    await server.audit.flush();
    return server.audit.repository.forSubject(subject);
  }

  before(async function () {
    this.timeout(180_000);
    server = await startTestServer({ overrides: { recordings: { workDir: path.join(tempDir(), 'work') } } });
    fx.use(server);
    recordingA = (await recordVisit(fx, { seconds: 6, department: 'cardiology' })).recordingId;
    recordingB = (await recordVisit(fx, { seconds: 3, department: 'cardiology', categories: ['psychiatry'], host: 'dr-ma', patient: 'pt-liu' })).recordingId;
    const file = path.join(tempDir(), 'a.webm');
    await server.archive.export(recordingA, file);
    exportA = fs.readFileSync(file);
  });
  afterEach(() => fx.closeAll());
  // Each story starts without open requests (one open request per person and recording).
  afterEach(async () => {
    for (const who of ['reviewer', 'records'] as const) {
      const mine = await call(who, 'GET', '/api/playback-requests?view=mine');
      for (const r of mine.json.requests as PlaybackRequestView[]) {
        if (r.actions.revoke) await call(who, 'POST', `/api/playback-requests/${r.requestId}/revoke`, { reason: 'test cleanup' });
      }
    }
  });
  after(() => server?.stop());

  it('lists recordings with what needs no approval, to back-office staff only', async () => {
    const r = await call('reviewer', 'GET', '/api/recordings');
    expect(r.status).to.equal(200);
    const a = (r.json.recordings as Array<Record<string, unknown>>).find((x) => x['recordingId'] === recordingA)!;
    expect(a).to.include({ department: 'cardiology', status: 'complete', legalHold: false });
    expect(a['participantRoles']).to.deep.equal(['host', 'patient']);
    expect(a['durationSeconds']).to.be.within(5, 12);
    expect(JSON.stringify(r.json)).not.to.include('pt-wang');
    const b = (r.json.recordings as Array<Record<string, unknown>>).find((x) => x['recordingId'] === recordingB)!;
    expect(b['categories']).to.deep.equal(['psychiatry']);
    expect((await call('host', 'GET', '/api/recordings')).json.error.code).to.equal('FORBIDDEN');
  });

  it('approves tier by tier, in order, with separation of duties, each decision signed and audited', async () => {
    const req = await requestPlayback(recordingA, 'records');
    expect(req.status).to.equal('pending');
    expect(req.tiers.map((t) => t.id)).to.deep.equal(['department_head', 'medical_affairs']);
    const id = req.requestId;
    expect((await call('records', 'POST', '/api/playback-requests', { recordingId: recordingA, purpose: 'again please', caseReference: 'x' })).json.error.code).to.equal('INVALID_STATE');

    expect((await decide('affairs', id, 'medical_affairs')).json.error.code, 'tier 2 first').to.equal('TIER_OUT_OF_ORDER');
    expect((await decide('otherHead', id, 'department_head')).json.error.code, 'head of another department').to.equal('NOT_TIER_APPROVER');
    expect((await decide('participant', id, 'department_head')).json.error.code, 'the visit’s own doctor').to.equal('SEPARATION_OF_DUTIES');
    expect((await decide('reviewer', id, 'department_head')).json.error.code, 'not an approver').to.equal('NOT_TIER_APPROVER');
    const queue = await call('head', 'GET', '/api/playback-requests?view=queue');
    expect((queue.json.requests as PlaybackRequestView[]).find((r) => r.requestId === id)?.actions.decideTier).to.equal('department_head');
    const blocked = await call('participant', 'GET', '/api/playback-requests?view=queue');
    const seen = (blocked.json.requests as PlaybackRequestView[]).find((r) => r.requestId === id)?.actions;
    expect(seen?.blocked).to.equal('participant');
    expect(seen?.blockedReason).to.match(/took part/);
    expect(seen?.decideTier).to.equal(null);

    const first = await decide('both', id, 'department_head', 'approve', '同意，限质控使用');
    expect(first.status, first.text).to.equal(200);
    expect(first.json).to.include({ status: 'pending', nextTierId: 'medical_affairs' });
    expect((await decide('both', id, 'medical_affairs')).json.error.code, 'one person, one tier').to.equal('SEPARATION_OF_DUTIES');
    expect((await call('records', 'GET', `/api/playback-requests/${id}/plays`)).status).to.equal(404);
    expect((await call('records', 'POST', `/api/playback-requests/${id}/plays`)).json.error.code, 'not yet granted').to.equal('GRANT_NOT_ACTIVE');
    const granted = await decide('affairs', id, 'medical_affairs', 'approve', '同意');
    expect(granted.json.status).to.equal('granted');
    expect(granted.json.grant).to.include({ playsUsed: 0, maxPlays: 3 });
    expect((await decide('affairs', id, 'medical_affairs')).json.error.code).to.equal('REQUEST_DECIDED');

    // Each decision is signed by the server's key over its content.
    const rows = await server.db.query<Record<string, unknown>>('SELECT * FROM approval_decisions WHERE request_id = $1 ORDER BY tier_index', [id]);
    expect(rows.rows).to.have.length(2);
    const stored = (await new PlaybackRepository(server.db).get(id))!;
    for (const d of await new PlaybackRepository(server.db).decisions(id)) {
      const body = {
        requestId: id,
        recordingId: recordingA,
        tierIndex: d.tierIndex,
        tierId: d.tierId,
        decision: d.decision,
        approverId: d.approverId,
        approverPosition: d.approverPosition,
        approverDepartment: d.approverDepartment,
        comment: d.comment,
        decidedAt: d.decidedAt.toISOString(),
        policyHash: stored.policyHash,
      };
      expect(verifyCanonical(body, { value: d.signature }, server.manifestSigner.publicKeyPem), `decision of ${d.tierId}`).to.equal(true);
      expect(verifyCanonical({ ...body, comment: 'changed' }, { value: d.signature }, server.manifestSigner.publicKeyPem)).to.equal(false);
    }
    const actions = (await auditOf(`recording:${recordingA}`)).filter((e) => e.details['requestId'] === id).map((e) => `${e.action}:${e.actor}`);
    expect(actions).to.deep.equal(['playback.requested:rs-qian', 'playback.approved:ap-wu', 'playback.approved:ap-sun', 'playback.granted:system']);
  });

  it('adds the vice-president tier for a psychiatry recording; a denial ends the request', async () => {
    const req = await requestPlayback(recordingB);
    expect(req.tiers.map((t) => t.id)).to.deep.equal(['department_head', 'medical_affairs', 'vice_president']);
    await decide('head', req.requestId, 'department_head');
    expect((await decide('affairs', req.requestId, 'medical_affairs', 'deny', '')).json.error.code, 'a denial needs a reason').to.equal('VALIDATION_FAILED');
    const denied = await decide('affairs', req.requestId, 'medical_affairs', 'deny', '目的不充分');
    expect(denied.json.status).to.equal('denied');
    expect((await call('reviewer', 'POST', `/api/playback-requests/${req.requestId}/plays`)).json.error.code).to.equal('GRANT_NOT_ACTIVE');
  });

  it('plays through the server: Range answers are exactly the exported bytes; the key and a download never leave it', async () => {
    const granted = await grantedRequest(recordingA);
    const start = await play(granted.requestId);
    expect(start.contentType).to.equal('video/webm');
    expect(start.bytes).to.equal(exportA.length);
    expect(start.watermark).to.include({ name: '赵质控', userId: 'qr-zhao' });
    const size = exportA.length;
    for (const [range, from, to] of [
      ['bytes=0-99', 0, 99],
      [`bytes=${Math.floor(size / 2)}-${Math.floor(size / 2) + 4095}`, Math.floor(size / 2), Math.floor(size / 2) + 4095],
      ['bytes=-1000', size - 1000, size - 1],
      [`bytes=${size - 10}-`, size - 10, size - 1],
      ['bytes=17-17', 17, 17],
    ] as const) {
      const r = await media(start.mediaUrl, { Range: range });
      expect(r.status, range).to.equal(206);
      expect(r.headers['content-range']).to.equal(`bytes ${from}-${to}/${size}`);
      expect(r.body.equals(exportA.subarray(from, to + 1)), range).to.equal(true);
    }
    const whole = await media(start.mediaUrl);
    expect(whole.status).to.equal(200);
    expect(whole.headers['accept-ranges']).to.equal('bytes');
    expect(whole.headers['content-disposition']).to.equal('inline');
    expect(whole.headers['cache-control']).to.match(/no-store/);
    expect(crypto.createHash('sha256').update(whole.body).digest('hex')).to.equal(crypto.createHash('sha256').update(exportA).digest('hex'));
    expect((await media(start.mediaUrl, { Range: `bytes=${size}-` })).status).to.equal(416);
    // The capability is the session's own: a wrong token or session opens nothing.
    expect((await media(start.mediaUrl.replace(/t=[^&]+/, 't=AAAA'))).status).to.equal(404);
    expect((await media(start.mediaUrl.replace(/t=.*/, ''))).status).to.equal(404);
    // Nothing on the server's disk is plaintext media.
    const cacheDir = path.join(server.dataDir, 'playback-cache');
    for (const f of fs.readdirSync(cacheDir)) expect(fs.readFileSync(path.join(cacheDir, f)).includes(Buffer.from('OpusHead')), f).to.equal(false);
    // Each play and each range is audited: who, which bytes.
    const entries = (await auditOf(`recording:${recordingA}`)).filter((e) => e.details['requestId'] === granted.requestId);
    expect(entries.filter((e) => e.action === 'playback.play_started').map((e) => e.actor)).to.deep.equal(['qr-zhao']);
    const ranges = entries.filter((e) => e.action === 'playback.range_served');
    expect(ranges.map((e) => [e.details['start'], e.details['end']])).to.deep.include.members([[0, 99], [size - 10, size - 1], [17, 17]]);
    expect(ranges.find((e) => e.details['start'] === 0 && e.details['end'] === 99)?.details).to.include({ bytesSent: 100, completed: true });
  });

  it('a grant serves one viewer, one recording, a limited number of plays', async () => {
    const granted = await grantedRequest(recordingA);
    expect((await call('records', 'POST', `/api/playback-requests/${granted.requestId}/plays`)).json.error.code, 'another viewer').to.equal('FORBIDDEN');
    const s = await play(granted.requestId);
    // The session streams recording A and nothing else.
    expect((await media(s.mediaUrl)).body.equals(exportA)).to.equal(true);
    const pendingB = await requestPlayback(recordingB);
    expect((await call('reviewer', 'POST', `/api/playback-requests/${pendingB.requestId}/plays`)).json.error.code).to.equal('GRANT_NOT_ACTIVE');
    await play(granted.requestId);
    await play(granted.requestId);
    const fourth = await call('reviewer', 'POST', `/api/playback-requests/${granted.requestId}/plays`);
    expect(fourth.status).to.equal(403);
    expect(fourth.json.error.code).to.equal('GRANT_EXHAUSTED');
  });

  it('an expired grant gets 403, and the expiry is audited', async () => {
    const granted = await grantedRequest(recordingA);
    const s = await play(granted.requestId);
    expect((await media(s.mediaUrl, { Range: 'bytes=0-9' })).status).to.equal(206);
    await server.db.query(`UPDATE playback_requests SET grant_expires_at = now() - interval '1 second' WHERE request_id = $1`, [granted.requestId]);
    const r = await media(s.mediaUrl, { Range: 'bytes=0-9' });
    expect(r.status).to.equal(403);
    expect(r.json.error.code).to.equal('GRANT_EXPIRED');
    expect((await call('reviewer', 'POST', `/api/playback-requests/${granted.requestId}/plays`)).json.error.code).to.equal('GRANT_EXPIRED');
    expect((await call('reviewer', 'GET', `/api/playback-requests/${granted.requestId}`)).json.status).to.equal('expired');
    expect((await auditOf(`recording:${recordingA}`)).some((e) => e.action === 'playback.expired' && e.details['requestId'] === granted.requestId)).to.equal(true);
  });

  it('a pending request expires when not decided in time', async () => {
    const req = await requestPlayback(recordingB, 'records');
    await server.db.query(`UPDATE playback_requests SET expires_at = now() - interval '1 second' WHERE request_id = $1`, [req.requestId]);
    expect(await server.approvals.sweep()).to.include(req.requestId);
    expect((await decide('head', req.requestId, 'department_head')).json.error.code).to.equal('REQUEST_EXPIRED');
  });

  it('revoking a grant stops a stream in progress and tells the player', async () => {
    // A recording larger than what the network buffers hold, so the stream is still under way when revoked.
    const large = (await recordVisit(fx, { seconds: 5, department: 'cardiology', host: 'dr-xu', patient: 'pt-he', hostVideoBitrate: '4M' })).recordingId;
    const granted = await grantedRequest(large);
    const s = await play(granted.requestId);
    // The player listens for the end of its grant.
    const events = new Promise<string>((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${server.port}${s.eventsUrl}`, { ca: server.ca, agent: false }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    // A stream that has started and is not finished: the viewer reads one chunk and pauses.
    const stream = await new Promise<{ res: IncomingMessage; first: number }>((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${server.port}${s.mediaUrl}`, { ca: server.ca, agent: false }, (res) => {
          res.once('data', (c: Buffer) => {
            res.pause();
            resolve({ res, first: c.length });
          });
        })
        .on('error', reject);
    });
    const total = Number(stream.res.headers['content-length']);
    expect(total).to.be.greaterThan(1_500_000);
    const ended = new Promise<{ received: number; complete: boolean }>((resolve) => {
      let received = stream.first;
      stream.res.on('data', (c: Buffer) => {
        received += c.length;
      });
      stream.res.on('error', () => undefined);
      stream.res.on('close', () => resolve({ received, complete: stream.res.complete }));
    });
    const revoked = await call('affairs', 'POST', `/api/playback-requests/${granted.requestId}/revoke`, { reason: '发现申请目的不符' });
    expect(revoked.status, revoked.text).to.equal(200);
    expect(revoked.json.status).to.equal('revoked');
    stream.res.resume();
    const outcome = await ended;
    expect(outcome.complete, `the stream was cut (${total} bytes, ${outcome.received} received)`).to.equal(false);
    expect(outcome.received).to.be.lessThan(total);
    expect(await events).to.match(/event: revoked/);
    const after = await media(s.mediaUrl, { Range: 'bytes=0-9' });
    expect(after.status).to.equal(404);
    expect((await call('reviewer', 'POST', `/api/playback-requests/${granted.requestId}/plays`)).json.error.code).to.equal('GRANT_REVOKED');
  });

  it('break-glass opens at once, is flagged in the audit trail, and is reviewed by medical affairs', async () => {
    expect((await call('reviewer', 'POST', `/api/recordings/${recordingA}/break-glass`, { reason: '患者投诉紧急调查需要立即查看', caseReference: 'CMP-7' })).json.error.code).to.equal('FORBIDDEN');
    const r = await call('director', 'POST', `/api/recordings/${recordingA}/break-glass`, { reason: '患者投诉紧急调查需要立即查看', caseReference: 'CMP-7' });
    expect(r.status, r.text).to.equal(201);
    const bg = r.json as PlaybackRequestView;
    expect(bg).to.include({ kind: 'break_glass', status: 'granted' });
    expect(bg.breakGlass?.reviewTier.id).to.equal('medical_affairs');
    const s = await play(bg.requestId, 'director');
    expect((await media(s.mediaUrl, { Range: 'bytes=0-99' })).body.equals(exportA.subarray(0, 100))).to.equal(true);
    const flagged = (await auditOf(`recording:${recordingA}`)).filter((e) => e.details['requestId'] === bg.requestId && e.flagged).map((e) => e.action);
    expect(flagged).to.include.members(['playback.break_glass', 'playback.play_started']);
    const queue = await call('affairs', 'GET', '/api/playback-requests?view=queue');
    expect((queue.json.requests as PlaybackRequestView[]).find((x) => x.requestId === bg.requestId)?.actions.review).to.equal(true);
    expect((await call('head', 'POST', `/api/playback-requests/${bg.requestId}/review`, { outcome: 'justified', comment: 'ok' })).json.error.code).to.equal('NOT_TIER_APPROVER');
    const reviewed = await call('affairs', 'POST', `/api/playback-requests/${bg.requestId}/review`, { outcome: 'justified', comment: '投诉处理确需调阅' });
    expect(reviewed.json.breakGlass.review).to.include({ by: 'ap-sun', outcome: 'justified' });
    expect((await call('affairs', 'POST', `/api/playback-requests/${bg.requestId}/review`, { outcome: 'unjustified', comment: 'again' })).json.error.code).to.equal('REQUEST_DECIDED');
  });

  it('a policy change leaves requests already made as they were', async () => {
    const req = await requestPlayback(recordingA, 'records');
    await decide('head', req.requestId, 'department_head');
    // The hospital adds a tier in front and shortens grants; a server started with it…
    const policy = loadApprovalPolicy(POLICY_DIR);
    const changed = {
      ...policy,
      tiers: [{ id: 'quality_office', label: { 'zh-CN': '质控办', en: 'Quality office' }, position: 'quality_head', sameDepartment: false }, ...policy.tiers],
      grant: { hours: 1, maxPlays: 1 },
    };
    const later = new ApprovalService({ db: server.db, repository: new PlaybackRepository(server.db), audit: server.audit, policy: changed, signer: server.manifestSigner, log: pino({ level: 'silent' }) });
    expect(later.policyHash).not.to.equal(server.approvals.policyHash);
    // …still asks the existing request's own tiers, in its own order, on its own terms.
    const affairs = { userId: 'ap-sun', role: 'approver' as const, displayName: '孙医务', roomId: null, expiresAt: 0, tokenId: null, department: 'medical_affairs_office', positions: ['medical_affairs'], institutionId: null };
    const done = await later.decide(affairs, req.requestId, { tier: 'medical_affairs', decision: 'approve', comment: '同意' });
    expect(done.status).to.equal('granted');
    expect(done.tiers.map((t) => t.id)).to.deep.equal(['department_head', 'medical_affairs']);
    expect(done.grant?.maxPlays).to.equal(3);
    // A new request follows the new policy.
    const reviewer = { userId: 'qr-new', role: 'quality_reviewer' as const, displayName: null, roomId: null, expiresAt: 0, tokenId: null, department: null, positions: [], institutionId: null };
    const fresh = await later.request(reviewer, { recordingId: recordingA, purpose: 'policy test', caseReference: 'P-1' });
    expect(fresh.tiers.map((t) => t.id)).to.deep.equal(['quality_office', 'department_head', 'medical_affairs']);
  });

  it('keeps an audit trail of the whole process that verifies, and refuses to be changed', async () => {
    await server.audit.flush();
    const report = await verifyChain(server.audit.repository.all());
    expect(report.problems).to.deep.equal([]);
    const actions = new Set<string>();
    for await (const e of server.audit.repository.all()) actions.add(e.action);
    for (const a of ['config.loaded', 'key.registered', 'room.joined', 'room.lobby_admitted', 'room.left', 'consent.given', 'recording.started', 'recording.stopped', 'recording.finalized', 'key.data_key_wrapped', 'key.data_key_unwrapped', 'playback.requested', 'playback.approved', 'playback.denied', 'playback.granted', 'playback.revoked', 'playback.expired', 'playback.play_started', 'playback.range_served', 'playback.break_glass', 'playback.break_glass_reviewed']) {
      expect(actions, a).to.include(a);
    }
    // Append-only for the application's database role.
    const refused = await server.db.query('UPDATE audit_log SET actor = $1 WHERE seq = 1', ['x']).then(() => null, (e: Error) => e.message);
    expect(refused).to.match(/append-only/);
    expect(await server.db.query('DELETE FROM audit_log WHERE seq = 1').then(() => null, (e: Error) => e.message)).to.match(/append-only/);
    // A signed checkpoint goes to object storage.
    const cp = await server.auditCheckpoints.checkpoint();
    expect(cp?.seq).to.equal(report.head!.seq);
  });
});
