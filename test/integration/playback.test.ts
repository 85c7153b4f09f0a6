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
import type { Readable } from 'node:stream';
import { loadApprovalPolicy } from '../../server/domain/approvals/ApprovalPolicy.ts';
import { ApprovalService } from '../../server/domain/approvals/ApprovalService.ts';
import { verifyChain } from '../../server/domain/audit/verifyChain.ts';
import { MAX_RANGE_BYTES, PLAY_COOKIE, PlaybackService, type PlayEvent } from '../../server/domain/playback/PlaybackService.ts';
import type { Identity } from '../../server/edge/auth/identity.ts';
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
  /** Larger than a range answer may be (2 MiB), and than the network buffers hold. */
  let large = '';
  /** Made unplayable (a segment deleted) by the play-counting test; destroyed by retention at the end. */
  let broken = '';
  let exportA: Buffer;
  let exportLarge: Buffer;
  let dataDir = '';

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
    otherDirector: { sub: 'dd-lu', role: 'approver', name: '陆总值班', positions: ['duty_director'] },
    // The reviewer qr-zhao again, signed in with the approver account of the same person (head of cardiology).
    reviewerAsHead: { sub: 'qr-zhao', role: 'approver', name: '赵质控', dept: 'cardiology', positions: ['department_head'] },
    // The reviewer's own token claiming a position: positions count for approver accounts only.
    reviewerClaimingHead: { sub: 'qr-zhao', role: 'quality_reviewer', name: '赵质控', dept: 'cardiology', positions: ['department_head'] },
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

  /** A play session as the player page holds it: its URLs, and the cookie its browser got. */
  interface Play extends PlayStart {
    setCookie: string;
    /** `name=value`, as the browser sends it back. */
    cookie: string;
  }

  async function play(requestId: string, who: Who = 'reviewer'): Promise<Play> {
    const r = await call(who, 'POST', `/api/playback-requests/${requestId}/plays`);
    expect(r.status, r.text).to.equal(201);
    const setCookie = ([] as string[]).concat(r.headers['set-cookie'] ?? [])[0] ?? '';
    return { ...(r.json as PlayStart), setCookie, cookie: setCookie.split(';')[0]! };
  }

  /** The session's media as its <video> element asks for it: with the session's cookie. */
  const mediaOf = (s: Play, headers: Record<string, string> = {}) => media(s.mediaUrl, { Cookie: s.cookie, ...headers });

  /** Every byte of the session's media, range after range as a player reads it; each answer at most the cap. */
  async function readAll(s: Play): Promise<{ body: Buffer; answers: number }> {
    const parts: Buffer[] = [];
    let at = 0;
    while (at < s.bytes) {
      const r = await mediaOf(s, { Range: `bytes=${at}-` });
      expect(r.status, `bytes=${at}-`).to.equal(206);
      expect(r.body.length).to.be.above(0).and.at.most(MAX_RANGE_BYTES);
      expect(r.headers['content-range']).to.equal(`bytes ${at}-${at + r.body.length - 1}/${s.bytes}`);
      parts.push(r.body);
      at += r.body.length;
    }
    return { body: Buffer.concat(parts), answers: parts.length };
  }

  /** The player's end-of-grant events, as text, once the server closes them. */
  function listen(s: Play): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${server.port}${s.eventsUrl}`, { ca: server.ca, agent: false, headers: { Cookie: s.cookie } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
  }

  /** A stream that has started and is not finished: the viewer reads one chunk and pauses. */
  async function pausedStream(s: Play, range = 'bytes=0-') {
    const stream = await new Promise<{ res: IncomingMessage; first: number }>((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${server.port}${s.mediaUrl}`, { ca: server.ca, agent: false, headers: { Cookie: s.cookie, Range: range } }, (res) => {
          res.once('data', (c: Buffer) => {
            res.pause();
            resolve({ res, first: c.length });
          });
        })
        .on('error', reject);
    });
    const total = Number(stream.res.headers['content-length']);
    /** Reads on to the end, or to the cut. */
    const end = () =>
      new Promise<{ received: number; complete: boolean }>((resolve) => {
        let received = stream.first;
        stream.res.on('data', (c: Buffer) => {
          received += c.length;
        });
        stream.res.on('error', () => undefined);
        stream.res.on('close', () => resolve({ received, complete: stream.res.complete }));
        stream.res.resume();
      });
    return { res: stream.res, total, end };
  }

  const identityOf = (who: 'reviewer' | 'affairs'): Identity => {
    const p = people[who] as ClaimOverrides & { sub: string; role: Identity['role'] };
    return {
      userId: p.sub,
      role: p.role,
      displayName: (p.name as string | undefined) ?? null,
      roomId: null,
      expiresAt: 0,
      tokenId: null,
      department: (p.dept as string | undefined) ?? null,
      positions: (p.positions as string[] | undefined) ?? [],
      institutionId: null,
    };
  };

  async function auditOf(subject: string) {
    await server.audit.flush();
    return server.audit.repository.forSubject(subject);
  }

  before(async function () {
    this.timeout(240_000);
    // A server that was started before with another configuration: this start records what changed.
    dataDir = tempDir();
    const workDir = path.join(tempDir(), 'work');
    await (await startTestServer({ dataDir, overrides: { recordings: { workDir }, audit: { checkpointSeconds: 600 } } })).stop();
    server = await startTestServer({ dataDir, overrides: { recordings: { workDir } } });
    fx.use(server);
    recordingA = (await recordVisit(fx, { seconds: 6, department: 'cardiology' })).recordingId;
    recordingB = (await recordVisit(fx, { seconds: 3, department: 'cardiology', categories: ['psychiatry'], host: 'dr-ma', patient: 'pt-liu' })).recordingId;
    // Twice the 2 MiB cap at the nominal bitrate: a busy machine encodes less than nominal in real time.
    large = (await recordVisit(fx, { seconds: 8, department: 'cardiology', host: 'dr-xu', patient: 'pt-he', hostVideoBitrate: '4M' })).recordingId;
    const file = path.join(tempDir(), 'a.webm');
    await server.archive.export(recordingA, file);
    exportA = fs.readFileSync(file);
    await server.archive.export(large, `${file}.large`);
    exportLarge = fs.readFileSync(`${file}.large`);
  });
  afterEach(() => fx.closeAll());
  // Each story starts without open requests (one open request per person and recording).
  afterEach(async () => {
    for (const who of ['reviewer', 'records', 'director', 'otherDirector'] as const) {
      const mine = await call(who, 'GET', '/api/playback-requests?view=mine');
      for (const r of mine.json.requests as PlaybackRequestView[]) {
        if (r.actions.revoke) await call(who, 'POST', `/api/playback-requests/${r.requestId}/revoke`, { reason: 'test cleanup' });
      }
    }
  });
  after(async () => {
    await server?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

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
      const r = await mediaOf(start, { Range: range });
      expect(r.status, range).to.equal(206);
      expect(r.headers['content-range']).to.equal(`bytes ${from}-${to}/${size}`);
      expect(r.body.equals(exportA.subarray(from, to + 1)), range).to.equal(true);
    }
    const first = await mediaOf(start, { Range: 'bytes=0-' });
    expect(first.headers['accept-ranges']).to.equal('bytes');
    expect(first.headers['content-disposition']).to.equal('inline');
    expect(first.headers['cache-control']).to.match(/no-store/);
    // Read range after range, as a player does, the media is the export, byte for byte.
    const all = await readAll(start);
    expect(crypto.createHash('sha256').update(all.body).digest('hex')).to.equal(crypto.createHash('sha256').update(exportA).digest('hex'));
    expect((await mediaOf(start, { Range: `bytes=${size}-` })).status).to.equal(416);
    // The capability is the session's own: a wrong token or session opens nothing.
    expect((await mediaOf({ ...start, mediaUrl: start.mediaUrl.replace(/t=[^&]+/, 't=AAAA') }, { Range: 'bytes=0-9' })).status).to.equal(404);
    expect((await mediaOf({ ...start, mediaUrl: start.mediaUrl.replace(/t=.*/, '') }, { Range: 'bytes=0-9' })).status).to.equal(404);
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

  it('binds a play session to the browser that opened it: the media URL without its cookie, or without a byte range, gets nothing', async () => {
    const granted = await grantedRequest(recordingA);
    const s = await play(granted.requestId);
    // HttpOnly (no script reads it), Secure, SameSite=Strict, for this session's path only, living as long as the session.
    const attributes = s.setCookie.split(';').map((a) => a.trim());
    expect(attributes[0]).to.match(new RegExp(`^${PLAY_COOKIE}=[A-Za-z0-9_-]{43}$`));
    expect(attributes).to.include.members(['HttpOnly', 'Secure', 'SameSite=Strict', `Path=/api/plays/${s.sessionId}`]);
    const maxAge = Number(attributes.find((a) => a.startsWith('Max-Age='))?.slice('Max-Age='.length));
    expect(maxAge).to.be.above(0).and.at.most(Math.ceil((Date.parse(s.sessionEndsAt) - Date.now()) / 1000) + 1);
    // The URL alone (copied out of the page, or leaked): refused with a code, for media, events and closing alike.
    for (const headers of [{}, { Cookie: `${PLAY_COOKIE}=${'A'.repeat(43)}` }, { Cookie: 'other=1' }] as Array<Record<string, string>>) {
      const r = await media(s.mediaUrl, { ...headers, Range: 'bytes=0-99' });
      expect(r.status, JSON.stringify(headers)).to.equal(403);
      expect(r.json.error.code).to.equal('PLAY_COOKIE_REQUIRED');
    }
    expect((await media(s.eventsUrl)).json.error.code).to.equal('PLAY_COOKIE_REQUIRED');
    const close = await httpsRequest(`https://127.0.0.1:${server.port}${s.mediaUrl.replace('/media', '')}`, { ca: server.ca, method: 'DELETE' });
    expect(close.json.error.code).to.equal('PLAY_COOKIE_REQUIRED');
    // No whole-file answer: a request without a (single) byte range is refused.
    for (const headers of [{}, { Range: 'bytes=0-9, 20-29' }, { Range: 'items=0-1' }] as Array<Record<string, string>>) {
      const r = await mediaOf(s, headers);
      expect(r.status, JSON.stringify(headers)).to.equal(400);
      expect(r.json.error.code).to.equal('RANGE_REQUIRED');
    }
    // With its cookie the same URL plays.
    expect((await mediaOf(s, { Range: 'bytes=0-99' })).body.equals(exportA.subarray(0, 100))).to.equal(true);
  });

  it('never sends more than 2 MiB in one answer: a shorter 206 than asked for, and the next range goes on from there', async () => {
    expect(exportLarge.length, 'the large recording').to.be.above(MAX_RANGE_BYTES);
    const granted = await grantedRequest(large);
    const s = await play(granted.requestId);
    expect(s.bytes).to.equal(exportLarge.length);
    for (const range of ['bytes=0-', `bytes=0-${exportLarge.length - 1}`, `bytes=-${exportLarge.length}`]) {
      const r = await mediaOf(s, { Range: range });
      expect(r.status, range).to.equal(206);
      expect(r.headers['content-range'], range).to.equal(`bytes 0-${MAX_RANGE_BYTES - 1}/${exportLarge.length}`);
      expect(r.body.equals(exportLarge.subarray(0, MAX_RANGE_BYTES)), range).to.equal(true);
    }
    const all = await readAll(s);
    expect(all.answers).to.equal(Math.ceil(exportLarge.length / MAX_RANGE_BYTES));
    expect(all.body.equals(exportLarge)).to.equal(true);
  });

  it('a grant serves one viewer, one recording, a limited number of plays', async () => {
    const granted = await grantedRequest(recordingA);
    expect((await call('records', 'POST', `/api/playback-requests/${granted.requestId}/plays`)).json.error.code, 'another viewer').to.equal('FORBIDDEN');
    const s = await play(granted.requestId);
    // The session streams recording A and nothing else.
    expect((await readAll(s)).body.equals(exportA)).to.equal(true);
    const pendingB = await requestPlayback(recordingB);
    expect((await call('reviewer', 'POST', `/api/playback-requests/${pendingB.requestId}/plays`)).json.error.code).to.equal('GRANT_NOT_ACTIVE');
    await play(granted.requestId);
    await play(granted.requestId);
    const fourth = await call('reviewer', 'POST', `/api/playback-requests/${granted.requestId}/plays`);
    expect(fourth.status).to.equal(403);
    expect(fourth.json.error.code).to.equal('GRANT_EXHAUSTED');
  });

  it('counts a play only once its file is ready: a recording missing a segment in storage costs no play', async () => {
    broken = (await recordVisit(fx, { seconds: 2, department: 'cardiology', host: 'dr-gao', patient: 'pt-sun' })).recordingId;
    const segments: string[] = [];
    for await (const o of server.objectStore.list(`recordings/${broken}/`)) if (o.key.endsWith('.seg')) segments.push(o.key);
    expect(segments).to.not.be.empty;
    await server.objectStore.delete(segments[0]!);
    const granted = await grantedRequest(broken);
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      const r = await call('reviewer', 'POST', `/api/playback-requests/${granted.requestId}/plays`);
      expect(r.status, `attempt ${attempt}: ${r.text}`).to.equal(500);
    }
    const after = (await call('reviewer', 'GET', `/api/playback-requests/${granted.requestId}`)).json as PlaybackRequestView;
    expect(after.grant).to.include({ playsUsed: 0, maxPlays: 3 });
    expect(after.actions.play).to.equal(true);
    const entries = (await auditOf(`recording:${broken}`)).filter((e) => e.details['requestId'] === granted.requestId);
    expect(entries.filter((e) => e.action === 'playback.play_started')).to.deep.equal([]);
    // The attempt to use the key is in the trail all the same.
    expect(entries.filter((e) => e.action === 'key.data_key_unwrapped').map((e) => e.details['purpose'])).to.deep.equal(['playback', 'playback']);
  });

  it('an expired grant gets 403, and the expiry is audited', async () => {
    const granted = await grantedRequest(recordingA);
    const s = await play(granted.requestId);
    expect((await mediaOf(s, { Range: 'bytes=0-9' })).status).to.equal(206);
    await server.db.query(`UPDATE playback_requests SET grant_expires_at = now() - interval '1 second' WHERE request_id = $1`, [granted.requestId]);
    const r = await mediaOf(s, { Range: 'bytes=0-9' });
    expect(r.status).to.equal(403);
    expect(r.json.error.code).to.equal('GRANT_EXPIRED');
    expect((await call('reviewer', 'POST', `/api/playback-requests/${granted.requestId}/plays`)).json.error.code).to.equal('GRANT_EXPIRED');
    expect((await call('reviewer', 'GET', `/api/playback-requests/${granted.requestId}`)).json.status).to.equal('expired');
    expect((await auditOf(`recording:${recordingA}`)).some((e) => e.action === 'playback.expired' && e.details['requestId'] === granted.requestId)).to.equal(true);
  });

  it('a grant that runs out during a stream ends the stream at that moment, without waiting for the expiry sweep', async () => {
    const granted = await grantedRequest(large);
    // The playable file is prepared by a first play, so that the second opens at once.
    const warm = await play(granted.requestId);
    expect((await httpsRequest(`https://127.0.0.1:${server.port}${warm.mediaUrl.replace('/media', '')}`, { ca: server.ca, method: 'DELETE', headers: { Cookie: warm.cookie } })).status).to.equal(204);
    // Three seconds of grant left, as a short grant window in the policy would leave it.
    await server.db.query(`UPDATE playback_requests SET grant_expires_at = now() + interval '3 seconds' WHERE request_id = $1`, [granted.requestId]);
    const grantEnd = Date.parse(((await call('reviewer', 'GET', `/api/playback-requests/${granted.requestId}`)).json as PlaybackRequestView).grant!.expiresAt);
    const s = await play(granted.requestId);
    // The session lives no longer than its grant.
    expect(Date.parse(s.sessionEndsAt)).to.equal(grantEnd);
    const events = listen(s);
    expect((await mediaOf(s, { Range: 'bytes=0-99' })).body.equals(exportLarge.subarray(0, 100))).to.equal(true);
    // A response under way when the grant ends, registered as the media route registers its own. (A real
    // response of at most 2 MiB may already sit whole in the kernel's socket buffers three seconds on;
    // cutting a real one is the revocation test's.)
    const session = server.playback.session(s.sessionId, new URL(s.mediaUrl, server.url).searchParams.get('t')!, s.cookie.slice(`${PLAY_COOKIE}=`.length));
    let cutAt = 0;
    server.playback.track(session, { destroy: () => (cutAt = Date.now()) });
    expect(await events).to.match(/event: expired/);
    expect(cutAt - grantEnd, 'cut at the grant’s end').to.be.within(0, 1_500);
    // Recorded as expired by the session's own timer (the sweep runs every minute).
    expect((await auditOf(`recording:${large}`)).filter((e) => e.action === 'playback.expired' && e.details['requestId'] === granted.requestId)).to.have.length(1);
    expect((await mediaOf(s, { Range: 'bytes=0-9' })).status).to.equal(404);
  });

  it('a play session ends after its idle time, and at its maximum lifetime even while a stream is under way', async () => {
    // A second playback service on the same server, with a short idle time and lifetime (a third of the recording's length).
    const timing = { idleMs: 300, lifetimeFactor: 1 / 3, lifetimeSlackMs: 0 };
    const service = new PlaybackService({
      approvals: server.approvals,
      archive: server.archive,
      audit: server.audit,
      cacheDir: path.join(tempDir(), 'cache'),
      workDir: path.join(tempDir(), 'work'),
      log: pino({ level: 'silent' }),
      session: timing,
    });
    const nextEvent = (session: { listeners: Set<(e: PlayEvent) => void> }) => new Promise<PlayEvent>((resolve) => session.listeners.add(resolve));
    const open = async (requestId: string) => {
      const opened = await service.start(identityOf('reviewer'), requestId);
      return { opened, session: service.session(opened.play.sessionId, new URL(opened.play.mediaUrl, 'https://x').searchParams.get('t')!, opened.cookie.value) };
    };
    try {
      const granted = await grantedRequest(recordingA);
      const recorded = (await call('reviewer', 'GET', '/api/recordings')).json.recordings.find((r: { recordingId: string }) => r.recordingId === recordingA);
      // Idle: one range, then nothing.
      const idle = await open(granted.requestId);
      const idleEnd = nextEvent(idle.session);
      const answer = await service.range(idle.session, 'bytes=0-99');
      answer.body.destroy();
      const quiet = Date.now();
      expect(await idleEnd).to.deep.equal({ type: 'ended' });
      expect(Date.now() - quiet).to.be.at.least(timing.idleMs - 20);
      // Lifetime: a stream under way keeps the session from being idle, not from ending.
      const busy = await open(granted.requestId);
      let cut = false;
      service.track(busy.session, { destroy: () => (cut = true) });
      const lifetime = (Date.parse(busy.opened.play.sessionEndsAt) - Date.now()) / 1000;
      expect(lifetime).to.be.closeTo((recorded.durationSeconds as number) / 3, 1.5);
      expect(await nextEvent(busy.session)).to.deep.equal({ type: 'ended' });
      expect(cut, 'the stream was cut').to.equal(true);
      expect(Date.now()).to.be.at.least(Date.parse(busy.opened.play.sessionEndsAt) - 20);
      const ends = (await auditOf(`recording:${recordingA}`)).filter((e) => e.action === 'playback.play_ended' && e.details['requestId'] === granted.requestId);
      expect(ends.map((e) => [e.details['sessionId'], e.details['reason']])).to.deep.equal([
        [idle.opened.play.sessionId, 'idle'],
        [busy.opened.play.sessionId, 'lifetime'],
      ]);
    } finally {
      await service.close();
    }
  });

  it('a revocation that lands while a range is being prepared is answered 403 GRANT_REVOKED, and no byte goes out', async () => {
    const granted = await grantedRequest(recordingA);
    const s = await play(granted.requestId);
    const playback = server.playback;
    const original = playback.range;
    let body: Readable | undefined;
    playback.range = async function (session, header) {
      const answer = await original.call(playback, session, header);
      body = answer.body;
      // Revoked after the grant was checked, before the first byte.
      await server.approvals.revoke(identityOf('affairs'), granted.requestId, '调阅目的已撤回');
      return answer;
    };
    try {
      const r = await mediaOf(s, { Range: 'bytes=0-99' });
      expect(r.status).to.equal(403);
      expect(r.json.error.code).to.equal('GRANT_REVOKED');
    } finally {
      Reflect.deleteProperty(playback, 'range');
    }
    expect(body?.destroyed, 'the range’s stream was closed').to.equal(true);
    const served = (await auditOf(`recording:${recordingA}`)).filter((e) => e.action === 'playback.range_served' && e.details['sessionId'] === s.sessionId);
    expect(served).to.deep.equal([]);
  });

  it('a pending request expires when not decided in time', async () => {
    const req = await requestPlayback(recordingB, 'records');
    await server.db.query(`UPDATE playback_requests SET expires_at = now() - interval '1 second' WHERE request_id = $1`, [req.requestId]);
    expect((await server.approvals.sweep()).expired).to.include(req.requestId);
    expect((await decide('head', req.requestId, 'department_head')).json.error.code).to.equal('REQUEST_EXPIRED');
  });

  it('revoking a grant stops a stream in progress and tells the player', async () => {
    const granted = await grantedRequest(large);
    const s = await play(granted.requestId);
    // The player listens for the end of its grant.
    const events = listen(s);
    const stream = await pausedStream(s);
    expect(stream.total).to.be.greaterThan(1_500_000);
    const revoked = await call('affairs', 'POST', `/api/playback-requests/${granted.requestId}/revoke`, { reason: '发现申请目的不符' });
    expect(revoked.status, revoked.text).to.equal(200);
    expect(revoked.json.status).to.equal('revoked');
    const outcome = await stream.end();
    expect(outcome.complete, `the stream was cut (${stream.total} bytes, ${outcome.received} received)`).to.equal(false);
    expect(outcome.received).to.be.lessThan(stream.total);
    expect(await events).to.match(/event: revoked/);
    const after = await mediaOf(s, { Range: 'bytes=0-9' });
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
    expect((await mediaOf(s, { Range: 'bytes=0-99' })).body.equals(exportA.subarray(0, 100))).to.equal(true);
    const flagged = (await auditOf(`recording:${recordingA}`)).filter((e) => e.details['requestId'] === bg.requestId && e.flagged).map((e) => e.action);
    expect(flagged).to.include.members(['playback.break_glass', 'playback.play_started']);
    const queue = await call('affairs', 'GET', '/api/playback-requests?view=queue');
    expect((queue.json.requests as PlaybackRequestView[]).find((x) => x.requestId === bg.requestId)?.actions.review).to.equal(true);
    expect((await call('head', 'POST', `/api/playback-requests/${bg.requestId}/review`, { outcome: 'justified', comment: 'ok' })).json.error.code).to.equal('NOT_TIER_APPROVER');
    const reviewed = await call('affairs', 'POST', `/api/playback-requests/${bg.requestId}/review`, { outcome: 'justified', comment: '投诉处理确需调阅' });
    expect(reviewed.json.breakGlass.review).to.include({ by: 'ap-sun', outcome: 'justified' });
    expect((await call('affairs', 'POST', `/api/playback-requests/${bg.requestId}/review`, { outcome: 'unjustified', comment: 'again' })).json.error.code).to.equal('REQUEST_DECIDED');
  });

  it('an approver of another department neither sees nor revokes a request; a participant of the visit cannot revoke one', async () => {
    const id = (await requestPlayback(recordingA)).requestId;
    // Neurology's head holds the tier's position, not in the recording's department (cardiology).
    expect((await call('otherHead', 'GET', `/api/playback-requests/${id}`)).status).to.equal(404);
    const revokedByOther = await call('otherHead', 'POST', `/api/playback-requests/${id}/revoke`, { reason: '越权撤销' });
    expect(revokedByOther.status).to.equal(403);
    expect(revokedByOther.json.error.code).to.equal('FORBIDDEN');
    for (const view of ['queue', 'oversight']) {
      const listed = (await call('otherHead', 'GET', `/api/playback-requests?view=${view}`)).json.requests as PlaybackRequestView[];
      expect(listed.map((r) => r.requestId), view).not.to.include(id);
    }
    // The visit's own doctor heads cardiology: shown why they cannot decide, and cannot revoke either.
    const seen = (await call('participant', 'GET', `/api/playback-requests/${id}`)).json as PlaybackRequestView;
    expect(seen.actions).to.include({ revoke: false, blocked: 'participant', decideTier: null });
    expect((await call('participant', 'POST', `/api/playback-requests/${id}/revoke`, { reason: '不希望被复核' })).json.error.code).to.equal('FORBIDDEN');
    const oversight = (await call('participant', 'GET', '/api/playback-requests?view=oversight')).json.requests as PlaybackRequestView[];
    expect(oversight.map((r) => r.requestId)).not.to.include(id);
    // Cardiology's head who took no part may.
    expect(((await call('head', 'GET', `/api/playback-requests/${id}`)).json as PlaybackRequestView).actions.revoke).to.equal(true);
    expect((await call('reviewer', 'GET', `/api/playback-requests/${id}`)).json.status).to.equal('pending');
  });

  it('a requester who also holds an approver position cannot approve their own request', async () => {
    const id = (await requestPlayback(recordingA)).requestId;
    const own = await decide('reviewerAsHead', id, 'department_head');
    expect(own.status).to.equal(403);
    expect(own.json.error.code).to.equal('SEPARATION_OF_DUTIES');
    expect(own.json.error.message).to.match(/you made this request/);
    const queued = ((await call('reviewerAsHead', 'GET', '/api/playback-requests?view=queue')).json.requests as PlaybackRequestView[]).find((r) => r.requestId === id);
    expect(queued?.actions).to.include({ blocked: 'requester', decideTier: null });
    // Positions count on approver accounts only.
    expect((await decide('reviewerClaimingHead', id, 'department_head')).json.error.code).to.equal('NOT_TIER_APPROVER');
    expect((await call('reviewer', 'GET', `/api/playback-requests/${id}`)).json).to.include({ status: 'pending', nextTierId: 'department_head' });
  });

  it('medical records staff add sensitive categories and set a missing department, audited; requests already made keep their tiers', async () => {
    // The host had no department in their token, and ticked no category.
    const d = (await recordVisit(fx, { seconds: 2, host: 'dr-tang', patient: 'pt-zhu' })).recordingId;
    const unassigned = await call('reviewer', 'POST', '/api/playback-requests', { recordingId: d, purpose: '医疗质量抽查', caseReference: 'QC-9' });
    expect(unassigned.json.error.code).to.equal('INVALID_STATE');
    expect(unassigned.json.error.message).to.match(/medical records staff can assign it/);
    const classify = (who: Who, body: unknown) => call(who, 'POST', `/api/recordings/${d}/classification`, body);
    expect((await classify('reviewer', { department: 'cardiology' })).json.error.code, 'a quality reviewer').to.equal('FORBIDDEN');
    expect((await classify('head', { addCategories: ['minor'] })).json.error.code, 'an approver').to.equal('FORBIDDEN');
    const unknown = await classify('records', { addCategories: ['oncology'] });
    expect(unknown.json.error.code).to.equal('VALIDATION_FAILED');
    expect(unknown.json.error.issues[0].path).to.equal('addCategories');
    expect((await classify('records', {})).json.error.code, 'nothing to do').to.equal('VALIDATION_FAILED');
    expect((await classify('records', { removeCategories: ['minor'] })).json.error.code, 'never removes').to.equal('VALIDATION_FAILED');

    const assigned = await classify('records', { department: 'cardiology' });
    expect(assigned.status, assigned.text).to.equal(200);
    expect(assigned.json).to.include({ recordingId: d, department: 'cardiology' });
    expect((await classify('records', { department: 'neurology' })).json.error.code, 'a department on record is never changed').to.equal('INVALID_STATE');
    const earlier = await requestPlayback(d);
    expect(earlier.tiers.map((t) => t.id)).to.deep.equal(['department_head', 'medical_affairs']);

    const tagged = await classify('records', { addCategories: ['minor', 'minor'] });
    expect(tagged.json.categories).to.deep.equal(['minor']);
    expect((await classify('records', { addCategories: ['psychiatry'] })).json.categories).to.deep.equal(['minor', 'psychiatry']);
    // Unchanged: nothing recorded.
    expect((await classify('records', { addCategories: ['minor'], department: 'cardiology' })).json.categories).to.deep.equal(['minor', 'psychiatry']);
    // The request made before keeps the tiers it was made with; a new one needs the vice-president.
    const kept = (await call('reviewer', 'GET', `/api/playback-requests/${earlier.requestId}`)).json as PlaybackRequestView;
    expect(kept.tiers.map((t) => t.id)).to.deep.equal(['department_head', 'medical_affairs']);
    expect(kept.categories).to.deep.equal([]);
    expect((await requestPlayback(d, 'records')).tiers.map((t) => t.id)).to.deep.equal(['department_head', 'medical_affairs', 'vice_president']);
    const catalogued = ((await call('reviewer', 'GET', '/api/recordings')).json.recordings as Array<Record<string, unknown>>).find((r) => r['recordingId'] === d);
    expect(catalogued).to.deep.include({ department: 'cardiology', categories: ['minor', 'psychiatry'] });

    const entries = (await auditOf(`recording:${d}`)).filter((e) => e.action === 'recording.classified');
    expect(entries.map((e) => [e.actor, e.actorRole, e.details['addedCategories'], e.details['departmentSet']])).to.deep.equal([
      ['rs-qian', 'records_staff', [], 'cardiology'],
      ['rs-qian', 'records_staff', ['minor'], null],
      ['rs-qian', 'records_staff', ['psychiatry'], null],
    ]);
    expect(entries[1]!.details['openRequests'], 'the open request made under the earlier classification').to.deep.equal([earlier.requestId]);
  });

  it('refuses a second break-glass access by the same person to the same recording while the first is open', async () => {
    const reason = { reason: '患者病情突变需立即核对会诊记录', caseReference: 'EM-12' };
    const first = await call('director', 'POST', `/api/recordings/${recordingB}/break-glass`, reason);
    expect(first.status, first.text).to.equal(201);
    const again = await call('director', 'POST', `/api/recordings/${recordingB}/break-glass`, reason);
    expect(again.status).to.equal(409);
    expect(again.json.error.code).to.equal('BREAK_GLASS_OPEN');
    expect(again.json.error.message).to.include(first.json.requestId);
    // Another duty director, or another recording, is another access.
    expect((await call('otherDirector', 'POST', `/api/recordings/${recordingB}/break-glass`, reason)).status).to.equal(201);
    expect((await call('director', 'POST', `/api/recordings/${large}/break-glass`, reason)).status).to.equal(201);
    // Once the first access's window has closed, a new one opens (and is flagged and reviewed in its turn).
    await server.db.query(`UPDATE playback_requests SET grant_expires_at = now() - interval '1 second' WHERE request_id = $1`, [first.json.requestId]);
    expect((await call('director', 'POST', `/api/recordings/${recordingB}/break-glass`, reason)).status).to.equal(201);
    const flagged = (await auditOf(`recording:${recordingB}`)).filter((e) => e.action === 'playback.break_glass' && e.actor === 'dd-he');
    expect(flagged).to.have.length(2);
  });

  it('flags a break-glass access whose review is overdue in the audit trail, once', async () => {
    const bg = (await call('director', 'POST', `/api/recordings/${recordingA}/break-glass`, { reason: '医疗纠纷紧急处置需要调阅', caseReference: 'MD-3' })).json as PlaybackRequestView;
    expect((await server.approvals.sweep()).overdueReviews).not.to.include(bg.requestId);
    await server.db.query(`UPDATE playback_requests SET review_due_at = now() - interval '1 second' WHERE request_id = $1`, [bg.requestId]);
    expect((await server.approvals.sweep()).overdueReviews).to.deep.equal([bg.requestId]);
    expect((await server.approvals.sweep()).overdueReviews, 'a second sweep').to.deep.equal([]);
    const overdue = (await auditOf(`recording:${recordingA}`)).filter((e) => e.action === 'playback.break_glass_review_overdue');
    expect(overdue).to.have.length(1);
    expect(overdue[0]).to.deep.include({ actor: 'system', flagged: true });
    expect(overdue[0]!.details).to.include({ requestId: bg.requestId, breakGlassBy: 'dd-he', reviewBy: 'medical_affairs' });
    // The review still happens, marked late.
    const reviewed = await call('affairs', 'POST', `/api/playback-requests/${bg.requestId}/review`, { outcome: 'justified', comment: '补充复核：确属紧急' });
    expect(reviewed.status, reviewed.text).to.equal(200);
    const review = (await auditOf(`recording:${recordingA}`)).find((e) => e.action === 'playback.break_glass_reviewed' && e.details['requestId'] === bg.requestId);
    expect(review?.details['late']).to.equal(true);
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
    // A patient the host turns away in the lobby, and one who withdraws consent.
    fx.next();
    const host = await fx.client('host', 'dr-li', { dept: 'cardiology' });
    await host.join();
    const stranger = await fx.client('patient', 'pt-stranger');
    await stranger.join();
    await host.request('room:deny', { peerId: stranger.peerId });
    await stranger.waitFor('room:denied');
    const patient = await fx.client('patient', 'pt-wu');
    await patient.join();
    await host.request('room:admit', { peerId: patient.peerId });
    const admitted = await patient.waitFor('room:admitted');
    await patient.request('recording:giveConsent', { method: 'in_app', textVersion: admitted.consentText.version });
    await patient.request('recording:withdrawConsent', {});
    // A recording past its retention is destroyed, its data key first.
    expect(broken, 'needs the recording of the play-counting test').to.not.equal('');
    await server.db.query(`UPDATE recordings SET retain_until = now() - interval '1 day' WHERE recording_id = $1`, [broken]);
    expect((await server.retention.sweep()).destroyed).to.deep.equal([broken]);

    await server.audit.flush();
    const report = await verifyChain(server.audit.repository.all());
    expect(report.problems).to.deep.equal([]);
    const actions = new Map<string, Array<{ subject: string | null; details: Record<string, unknown> }>>();
    for await (const e of server.audit.repository.all()) actions.set(e.action, [...(actions.get(e.action) ?? []), e]);
    for (const a of [
      'config.loaded', 'config.changed', 'key.registered',
      'room.joined', 'room.lobby_admitted', 'room.lobby_refused', 'room.left',
      'consent.given', 'consent.withdrawn',
      'recording.started', 'recording.stopped', 'recording.finalized', 'recording.classified', 'recording.destroyed',
      'key.data_key_wrapped', 'key.data_key_unwrapped', 'key.data_key_destroyed',
      'playback.requested', 'playback.approved', 'playback.denied', 'playback.granted', 'playback.revoked', 'playback.expired',
      'playback.play_started', 'playback.range_served', 'playback.play_ended',
      'playback.break_glass', 'playback.break_glass_reviewed', 'playback.break_glass_review_overdue',
    ]) {
      expect([...actions.keys()], a).to.include(a);
    }
    // Each from the flow above, not from anywhere else.
    expect(actions.get('config.changed')![0]!.details['changed']).to.deep.equal(['config']);
    expect(actions.get('room.lobby_refused')!.map((e) => e.details['refusedUserId'])).to.include('pt-stranger');
    expect(actions.get('consent.withdrawn')!.map((e) => e.subject)).to.include(`room:${fx.room}`);
    expect(actions.get('key.data_key_destroyed')!.map((e) => e.subject)).to.deep.equal([`recording:${broken}`]);
    // Append-only for the application's database role.
    const refused = await server.db.query('UPDATE audit_log SET actor = $1 WHERE seq = 1', ['x']).then(() => null, (e: Error) => e.message);
    expect(refused).to.match(/append-only/);
    expect(await server.db.query('DELETE FROM audit_log WHERE seq = 1').then(() => null, (e: Error) => e.message)).to.match(/append-only/);
    // A signed checkpoint goes to object storage.
    const cp = await server.auditCheckpoints.checkpoint();
    expect(cp?.seq).to.equal(report.head!.seq);
  });
});
