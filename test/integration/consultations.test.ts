/**
 * The consultation workflow and the rules of internet diagnosis, against a
 * real server with the development directory (a village clinic, a county
 * hospital, a tertiary hospital, agreements and verified practitioners).
 * Each rule is tested on its refusal path as well as its happy path.
 */
import { OPINION_FORMAT } from '../../server/domain/consultations/ConsultationService.ts';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { pino } from 'pino';
import type { Identity } from '../../server/edge/auth/identity.ts';
import { SupervisionDispatcher } from '../../server/domain/supervision/SupervisionOutbox.ts';
import { verifyCanonical } from '../../server/pki/signatures.ts';
import type { ConsultationCard, ConsultationView } from '../../server/protocol/consultation.ts';
import { canonicalJson } from '../../server/util/canonicalJson.ts';
import { RoomClient, RequestFailed } from '../support/roomClient.ts';
import { get, httpsRequest, startTestServer, type HttpResult, type TestServer } from '../support/server.ts';
import { signToken, signingContextOf, type ClaimOverrides } from '../support/tokens.ts';

describe('consultation workflow and the rules of internet diagnosis', function () {
  this.timeout(120_000);
  let server: TestServer;
  const clients: RoomClient[] = [];

  const people = {
    village: { sub: 'dr-wang-village', role: 'host', name: '王村医' },
    countyDoctor: { sub: 'dr-li', role: 'host', name: '李医生' },
    expert: { sub: 'dr-zhang', role: 'host', name: '张教授' },
    neurologist: { sub: 'dr-chen', role: 'host', name: '陈教授' },
    countyAdmin: { sub: 'adm-qx', role: 'institution_admin', name: '青县医务科', inst: 'qx-county' },
    tertiaryAdmin: { sub: 'adm-sy', role: 'institution_admin', name: '省一院医务处', inst: 'sy-tertiary' },
    tertiaryPharmacist: { sub: 'ph-liu', role: 'host', name: '刘药师' },
  } satisfies Record<string, ClaimOverrides>;
  type Who = keyof typeof people;

  const token = (who: Who | ClaimOverrides, extra: ClaimOverrides = {}) =>
    signToken(signingContextOf(server), { room: undefined, ...(typeof who === 'string' ? people[who] : who), ...extra });

  function call(who: Who | ClaimOverrides, method: string, pathname: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
    const raw = Buffer.isBuffer(body);
    return httpsRequest(`https://127.0.0.1:${server.port}${pathname}`, {
      ca: server.ca,
      method,
      headers: { Authorization: `Bearer ${token(who)}`, ...(body === undefined ? {} : { 'Content-Type': raw ? 'text/plain' : 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: raw ? (body as Buffer).toString('utf8') : JSON.stringify(body) }),
    });
  }

  const code = (r: HttpResult) => r.json?.error?.code ?? `HTTP ${r.status}`;

  const patient = { name: '刘桂兰', mrn: 'QX-2026-00817', sex: 'female' as const, birthDate: '1958-03-14', userId: 'pt-liu' };
  const summary = { chiefComplaint: '胸闷气短两周，活动后加重', priorDiagnosis: '冠状动脉粥样硬化性心脏病（2025年县医院住院确诊）', question: '是否需要调整抗血小板方案，是否需上级医院介入评估' };

  /** A county request to the tertiary hospital's cardiology, with a document and consent, submitted. */
  async function requested(options: { mrn?: string } = {}): Promise<ConsultationView> {
    const draft = await call('countyDoctor', 'POST', '/api/consultations', { invitedInstitutionId: 'sy-tertiary', department: 'cardiology', patient: { ...patient, mrn: options.mrn ?? patient.mrn }, summary });
    expect(draft.status, draft.text).to.equal(201);
    const id = draft.json.consultationId as string;
    const up = await call('countyDoctor', 'POST', `/api/consultations/${id}/documents?kind=discharge_summary&name=${encodeURIComponent('出院小结.txt')}`, Buffer.from('出院诊断：冠心病，稳定型心绞痛。'));
    expect(up.status, up.text).to.equal(201);
    expect((await call('countyDoctor', 'POST', `/api/consultations/${id}/consent`, { method: 'written', textVersion: 'tele-2026-1' })).status).to.equal(200);
    const sub = await call('countyDoctor', 'POST', `/api/consultations/${id}/submit`);
    expect(sub.status, sub.text).to.equal(200);
    return sub.json as ConsultationView;
  }

  async function inProgress(): Promise<ConsultationView> {
    const c = await requested();
    expect((await call('tertiaryAdmin', 'POST', `/api/consultations/${c.consultationId}/accept`, { expertId: 'dr-zhang' })).status).to.equal(200);
    const start = new Date(Date.now() - 60_000).toISOString();
    const end = new Date(Date.now() + 3600_000).toISOString();
    expect((await call('expert', 'POST', `/api/consultations/${c.consultationId}/schedule`, { start, end })).status).to.equal(200);
    const open = await call('expert', 'POST', `/api/consultations/${c.consultationId}/confirm-follow-up`);
    expect(open.status, open.text).to.equal(200);
    return open.json as ConsultationView;
  }

  async function visitClient(claims: ClaimOverrides): Promise<RoomClient> {
    const c = await RoomClient.connect(server, signToken(signingContextOf(server), claims));
    clients.push(c);
    return c;
  }

  async function refused(p: Promise<unknown>): Promise<string> {
    try {
      await p;
      return 'OK';
    } catch (err) {
      if (err instanceof RequestFailed) return err.code;
      throw err;
    }
  }

  /** For calling the services directly (what a REST caller with this user's token would be). */
  const identityOf = (userId: string): Identity => ({
    userId, role: 'host', displayName: null, roomId: null, expiresAt: Math.floor(Date.now() / 1000) + 600, tokenId: null, department: null, positions: [], institutionId: null,
  });

  let licence = 0;
  /** A new verified practitioner of the demo directory, for tests that suspend or move someone. */
  async function practitioner(id: string, institutionId: string, department: string, profession: 'physician' | 'specialist' = 'physician'): Promise<string> {
    licence += 1;
    const licenceNumber = `2203500000${String(licence).padStart(5, '0')}`;
    await server.directory.registerPractitioner('system', { practitionerId: id, name: `测试${id}`, licenceNumber, institutionId, department, profession });
    await server.directory.verifyPractitioner('system', id, { idDocumentType: 'resident_id', idDocumentNumber: `3301021990${licenceNumber.slice(-8)}`, licenceNumber });
    return id;
  }

  /** A request by `requester` (a county cardiologist) to the tertiary cardiology, submitted; accepted by `expert` and in progress when asked. */
  async function visitOf(requester: string, expert: string, until: 'requested' | 'accepted' | 'in_progress' = 'in_progress'): Promise<ConsultationView> {
    const who = { sub: requester, role: 'host' };
    const draft = await call(who, 'POST', '/api/consultations', { invitedInstitutionId: 'sy-tertiary', department: 'cardiology', patient: { ...patient, mrn: `QX-${requester}` }, summary });
    expect(draft.status, draft.text).to.equal(201);
    const id = draft.json.consultationId as string;
    expect((await call(who, 'POST', `/api/consultations/${id}/documents?kind=discharge_summary&name=cy.txt`, Buffer.from('出院小结：冠心病'))).status).to.equal(201);
    await call(who, 'POST', `/api/consultations/${id}/consent`, { method: 'written', textVersion: 'tele-2026-1' });
    const sub = await call(who, 'POST', `/api/consultations/${id}/submit`);
    if (until === 'requested') return sub.json as ConsultationView;
    const acc = await call('tertiaryAdmin', 'POST', `/api/consultations/${id}/accept`, { expertId: expert });
    expect(acc.status, acc.text).to.equal(200);
    if (until === 'accepted') return acc.json as ConsultationView;
    await call({ sub: expert, role: 'host' }, 'POST', `/api/consultations/${id}/schedule`, { start: new Date(Date.now() - 60_000).toISOString(), end: new Date(Date.now() + 3600_000).toISOString() });
    const open = await call({ sub: expert, role: 'host' }, 'POST', `/api/consultations/${id}/confirm-follow-up`);
    expect(open.status, open.text).to.equal(200);
    return open.json as ConsultationView;
  }

  /** An admitted participant with a (fake) camera and microphone on. */
  async function onCamera(c: RoomClient): Promise<void> {
    await c.setUpMedia();
    await c.produce('mic');
    await c.produce('camera');
  }

  const auditOf = async (subject: string) => {
    await server.audit.flush();
    return server.audit.repository.forSubject(subject);
  };

  before(async () => {
    server = await startTestServer({ overrides: { consultations: { seedDemoDirectory: true } } });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  after(() => server?.stop());

  describe('real-name verification of practitioners', () => {
    it('lets only verified, unsuspended practitioners act, with a certificate from their institution’s CA', async () => {
      const newcomer = { sub: 'dr-new', role: 'host', name: '新医生' } satisfies ClaimOverrides;
      const reg = await call('countyAdmin', 'POST', '/api/directory/practitioners', {
        practitionerId: 'dr-new', name: '新医生', licenceNumber: '110350000000099', institutionId: 'qx-county', department: 'cardiology', profession: 'physician',
      });
      expect(reg.status, reg.text).to.equal(201);
      expect(reg.json.status).to.equal('pending');
      const draft = () => call(newcomer, 'POST', '/api/consultations', { invitedInstitutionId: 'sy-tertiary', department: 'cardiology', patient, summary });
      expect(code(await draft()), 'unverified').to.equal('PRACTITIONER_NOT_VERIFIED');

      const verify = (who: Who | ClaimOverrides, body: Record<string, string>) => call(who, 'POST', '/api/directory/practitioners/dr-new/verify', body);
      const good = { idDocumentType: 'resident_id', idDocumentNumber: '330102198801011234', licenceNumber: '110350000000099' };
      expect(code(await verify('tertiaryAdmin', good)), 'another institution’s admin').to.equal('FORBIDDEN');
      expect(code(await verify({ sub: 'dr-new', role: 'institution_admin', inst: 'qx-county' }, good)), 'oneself').to.equal('FORBIDDEN');
      expect(code(await verify('countyAdmin', { ...good, licenceNumber: '110350000000098' })), 'wrong licence').to.equal('VALIDATION_FAILED');
      const ok = await verify('countyAdmin', good);
      expect(ok.status, ok.text).to.equal(200);
      const cert = new crypto.X509Certificate(ok.json.certificatePem as string);
      expect(cert.subject).to.include('CN=新医生').and.to.include('O=青县人民医院');
      const ca = await server.directory.repository.institutionCa('qx-county');
      expect(cert.checkIssued(new crypto.X509Certificate(ca!.certificatePem))).to.equal(true);
      expect(cert.verify(new crypto.X509Certificate(ca!.certificatePem).publicKey)).to.equal(true);
      // Opening the institution's CA key to issue it is in the audit trail: who, which key, what for.
      const caUses = (await server.audit.repository.forSubject('institution:qx-county')).filter((e) => e.action === 'key.unwrapped');
      expect(caUses.map((e) => [e.actor, e.details['key'], e.details['purpose'], e.details['practitionerId']])).to.deep.include(['adm-qx', 'institution_ca', 'issue_certificate', 'dr-new']);
      // The identity document number itself is never stored.
      const row = await server.db.query<{ id_document: unknown }>('SELECT id_document FROM practitioners WHERE practitioner_id = $1', ['dr-new']);
      expect(JSON.stringify(row.rows[0]!.id_document)).not.to.include('330102198801011234');
      expect(row.rows[0]!.id_document).to.include({ last4: '1234', type: 'resident_id' });

      expect((await draft()).status).to.equal(201);
      expect((await call('countyAdmin', 'POST', '/api/directory/practitioners/dr-new/suspend', { reason: '执业证书注销' })).json.status).to.equal('suspended');
      expect(code(await draft()), 'suspended').to.equal('PRACTITIONER_NOT_VERIFIED');
    });
  });

  describe('requests', () => {
    it('refuses a department outside both institutions’ approved departments or the agreement', async () => {
      const draft = (who: Who, invitedInstitutionId: string, department: string) => call(who, 'POST', '/api/consultations', { invitedInstitutionId, department, patient, summary });
      expect(code(await draft('village', 'qx-county', 'cardiology')), 'not approved for the village clinic').to.equal('DEPARTMENT_NOT_COVERED');
      expect(code(await draft('countyDoctor', 'sy-tertiary', 'psychiatry')), 'not approved for the county hospital').to.equal('DEPARTMENT_NOT_COVERED');
      expect(code(await draft('countyDoctor', 'sy-tertiary', 'general_practice')), 'outside the agreement').to.equal('DEPARTMENT_NOT_COVERED');
      expect(code(await draft('village', 'sy-tertiary', 'internal_medicine')), 'no agreement at all').to.equal('DEPARTMENT_NOT_COVERED');
      expect((await draft('village', 'qx-county', 'general_practice')).status).to.equal(201);
    });

    it('is a follow-up only: no request goes out without a prior diagnosis document and consent', async () => {
      const draft = await call('countyDoctor', 'POST', '/api/consultations', { invitedInstitutionId: 'sy-tertiary', department: 'cardiology', patient, summary });
      const id = draft.json.consultationId as string;
      expect(code(await call('countyDoctor', 'POST', `/api/consultations/${id}/submit`))).to.equal('FOLLOW_UP_ONLY');
      await call('countyDoctor', 'POST', `/api/consultations/${id}/documents?kind=diagnosis_certificate&name=zm.txt`, Buffer.from('诊断证明：冠心病'));
      expect(code(await call('countyDoctor', 'POST', `/api/consultations/${id}/submit`)), 'no consent').to.equal('INVALID_STATE');
      await call('countyDoctor', 'POST', `/api/consultations/${id}/consent`, { method: 'written', textVersion: 'tele-2026-1' });
      expect((await call('countyDoctor', 'POST', `/api/consultations/${id}/submit`)).json.status).to.equal('requested');
      // Documents are sealed in object storage: the stored bytes are not the document.
      const [doc] = await server.consultations.repository.documents({ consultationId: id, parentId: null });
      const stored = await server.objectStore.getBuffer(doc!.objectKey);
      expect(stored.includes(Buffer.from('冠心病'))).to.equal(false);
    });
  });

  describe('history only after accepting', () => {
    it('shows the invited side no patient identifiers, documents or history before the expert has accepted, and audits every view', async () => {
      const earlier = await requested({ mrn: 'QX-2026-55555' });
      await call('countyDoctor', 'POST', `/api/consultations/${earlier.consultationId}/cancel`, { reason: '患者已转诊' });
      const c = await requested({ mrn: 'QX-2026-55555' });
      const id = c.consultationId;

      const before = await call('expert', 'GET', `/api/consultations/${id}`);
      expect(before.status).to.equal(200);
      const outline = before.json as ConsultationView;
      expect(outline.scope).to.equal('outline');
      expect(outline.patient).to.equal(null);
      expect(outline.documents).to.deep.equal([]);
      expect(outline.documentKinds).to.deep.equal(['discharge_summary']);
      expect(outline.history).to.deep.equal([]);
      expect(JSON.stringify(outline)).not.to.include(patient.name).and.not.to.include('QX-2026-55555');
      expect(outline.patientOutline).to.deep.equal({ sex: 'female', ageYears: outline.patientOutline.ageYears });
      expect(code(await call('expert', 'GET', `/api/consultations/${id}/history`))).to.equal('NOT_ACCEPTED');
      const docId = (await server.consultations.repository.documents({ consultationId: id, parentId: null }))[0]!.documentId;
      expect(code(await call('expert', 'GET', `/api/consultations/${id}/documents/${docId}`))).to.equal('NOT_ACCEPTED');
      expect(code(await call('village', 'GET', `/api/consultations/${id}`)), 'unrelated').to.equal('NOT_FOUND');

      expect(code(await call('countyAdmin', 'POST', `/api/consultations/${id}/accept`, { expertId: 'dr-zhang' })), 'not the invited institution').to.equal('FORBIDDEN');
      expect(code(await call('tertiaryAdmin', 'POST', `/api/consultations/${id}/accept`, { expertId: 'dr-chen' })), 'a neurologist for cardiology').to.equal('DEPARTMENT_NOT_COVERED');
      expect((await call('tertiaryAdmin', 'POST', `/api/consultations/${id}/accept`, { expertId: 'dr-zhang' })).json.status).to.equal('accepted');

      const after = (await call('expert', 'GET', `/api/consultations/${id}`)).json as ConsultationView;
      expect(after.scope).to.equal('full');
      expect(after.patient).to.deep.include({ name: patient.name, mrn: 'QX-2026-55555' });
      expect(after.history.map((h) => h.consultationId)).to.deep.equal([earlier.consultationId]);
      const doc = await call('expert', 'GET', `/api/consultations/${id}/documents/${docId}`);
      expect(doc.text).to.equal('出院诊断：冠心病，稳定型心绞痛。');
      await server.audit.flush();
      const views = (await server.audit.repository.forSubject(`consultation:${id}`)).filter((e) => e.action.endsWith('viewed') && e.actor === 'dr-zhang');
      expect(views.map((e) => `${e.action}:${e.details['scope'] ?? e.details['kind']}`)).to.deep.equal([
        'consultation.viewed:outline',
        'consultation.viewed:full',
        'consultation.document_viewed:discharge_summary',
      ]);
      // Opening the sealed document's key is audited too (identifiers only).
      const keyUses = (await server.audit.repository.forSubject(`consultation:${id}`)).filter((e) => e.action === 'key.unwrapped');
      expect(keyUses.map((e) => [e.actor, e.details['key'], e.details['purpose'], e.details['documentId']])).to.deep.equal([['dr-zhang', 'document', 'view_document', docId]]);
    });
  });

  describe('worklists and views', () => {
    it('lists cards without patient identifiers or clinical text, audits each opened record once, and lets a page poll for changes without reading (or auditing) the record', async () => {
      const c = await requested({ mrn: 'QX-2026-77777' });
      const id = c.consultationId;
      const subject = `consultation:${id}`;
      const entries = async () => (await auditOf(subject)).length;
      const start = await entries();
      for (const who of ['countyDoctor', 'tertiaryAdmin'] as const) {
        const inbox = await call(who, 'GET', '/api/consultations');
        expect(inbox.status, inbox.text).to.equal(200);
        const card = (inbox.json.consultations as ConsultationCard[]).find((x) => x.consultationId === id)!;
        expect(card, `${who} sees it`).to.not.equal(undefined);
        expect(card).to.include({ status: 'requested', department: 'cardiology', documentCount: 1, hasConsent: true, hasOpinion: false });
        expect(card.patientOutline).to.deep.equal({ sex: 'female', ageYears: card.patientOutline.ageYears });
        const text = inbox.text;
        for (const secret of [patient.name, 'QX-2026-77777', patient.birthDate, patient.userId, summary.chiefComplaint, summary.priorDiagnosis, summary.question]) {
          expect(text, `${who}'s worklist`).to.not.include(secret);
        }
        expect(card).to.not.have.any.keys('patient', 'summary', 'documents', 'history', 'opinion', 'prescriptions');
      }
      expect(await entries(), 'a worklist is not a view of the record').to.equal(start);

      const mark = await call('countyDoctor', 'GET', `/api/consultations/${id}/changes`);
      expect(mark.status, mark.text).to.equal(200);
      expect(Object.keys(mark.json).sort()).to.deep.equal(['consultationId', 'status', 'updatedAt', 'version']);
      for (let i = 0; i < 3; i += 1) expect((await call('countyDoctor', 'GET', `/api/consultations/${id}/changes`)).json.version).to.equal(mark.json.version);
      expect(await entries(), 'polling writes nothing').to.equal(start);
      expect(code(await call('village', 'GET', `/api/consultations/${id}/changes`)), 'only for those who may view it').to.equal('NOT_FOUND');

      const view = (await call('countyDoctor', 'GET', `/api/consultations/${id}`)).json as ConsultationView;
      expect(view.version).to.equal(mark.json.version);
      const after = await auditOf(subject);
      expect(after.slice(start).map((e) => `${e.action}:${e.actor}:${e.details['scope']}`), 'one view, one entry').to.deep.equal(['consultation.viewed:dr-li:full']);

      // Any change moves the mark: a step, and a document or prescription of the consultation.
      await call('tertiaryAdmin', 'POST', `/api/consultations/${id}/accept`, { expertId: 'dr-zhang' });
      const moved = (await call('countyDoctor', 'GET', `/api/consultations/${id}/changes`)).json;
      expect(moved.status).to.equal('accepted');
      expect(moved.version).to.be.greaterThan(mark.json.version);
    });

    it('hands out a document only once its view is in the audit trail (fails closed)', async () => {
      const c = await requested();
      const [doc] = await server.consultations.repository.documents({ consultationId: c.consultationId, parentId: null });
      const append = server.audit.append;
      server.audit.append = () => Promise.reject(new Error('audit storage unavailable'));
      try {
        const refusedDoc = await call('countyDoctor', 'GET', `/api/consultations/${c.consultationId}/documents/${doc!.documentId}`);
        expect(refusedDoc.status).to.equal(500);
        expect(refusedDoc.text).to.not.include('冠心病');
      } finally {
        server.audit.append = append;
      }
      const ok = await call('countyDoctor', 'GET', `/api/consultations/${c.consultationId}/documents/${doc!.documentId}`);
      expect(ok.text).to.include('冠心病');
    });

    it('shows in a patient’s history no other doctor’s draft', async () => {
      const mrn = 'QX-2026-88888';
      const othersDraft = await call({ sub: 'dr-zhao', role: 'host' }, 'POST', '/api/consultations', { invitedInstitutionId: 'sy-tertiary', department: 'internal_medicine', patient: { ...patient, mrn }, summary });
      expect(othersDraft.status, othersDraft.text).to.equal(201);
      const ownDraft = await call('countyDoctor', 'POST', '/api/consultations', { invitedInstitutionId: 'sy-tertiary', department: 'cardiology', patient: { ...patient, mrn }, summary });
      const c = await requested({ mrn });
      await call('tertiaryAdmin', 'POST', `/api/consultations/${c.consultationId}/accept`, { expertId: 'dr-zhang' });
      const historyOf = async (who: Who) => ((await call(who, 'GET', `/api/consultations/${c.consultationId}/history`)).json.history as Array<{ consultationId: string }>).map((h) => h.consultationId);
      expect(await historyOf('countyDoctor'), 'the requester: own draft, not another doctor’s').to.deep.equal([ownDraft.json.consultationId]);
      expect(await historyOf('expert'), 'the expert: no drafts at all').to.deep.equal([]);
    });
  });

  describe('suspension takes effect at once', () => {
    it('closes the record, the documents, visit tokens and the room to a suspended practitioner, and removes them from the live room', async () => {
      const requester = await practitioner('dr-qian', 'qx-county', 'cardiology');
      const expertId = await practitioner('dr-sun-c', 'sy-tertiary', 'cardiology', 'specialist');
      const c = await visitOf(requester, expertId);
      const id = c.consultationId;
      const [doc] = await server.consultations.repository.documents({ consultationId: id, parentId: null });
      const requesterCall = { sub: requester, role: 'host' };
      const expertCall = { sub: expertId, role: 'host' };
      const host = await visitClient({ sub: requester, role: 'host', room: c.roomId });
      await host.join();
      const expert = await visitClient({ sub: expertId, role: 'expert', room: c.roomId });
      const waiting = await expert.join();
      await host.request('room:admit', { peerId: (waiting as { peerId: string }).peerId });
      await expert.waitFor('room:admitted');
      await onCamera(expert);
      expect((await call(expertCall, 'GET', `/api/consultations/${id}/documents/${doc!.documentId}`)).status, 'before').to.equal(200);

      // The tertiary hospital suspends its expert: out of the room at once, told why; nothing opens to them.
      const suspended = await call('tertiaryAdmin', 'POST', `/api/directory/practitioners/${expertId}/suspend`, { reason: '执业资格核查中' });
      expect(suspended.json.status).to.equal('suspended');
      expect((await expert.waitFor('room:peerLeft', (n) => n.peerId === expert.peerId)).reason).to.equal('suspended');
      expect((await host.waitFor('room:peerLeft', (n) => n.peerId === expert.peerId)).reason).to.equal('suspended');
      expect(server.rooms.get(c.roomId)!.members().map((m) => m.userId)).to.deep.equal([requester]);
      for (const [what, path] of [
        ['the record', `/api/consultations/${id}`],
        ['a document', `/api/consultations/${id}/documents/${doc!.documentId}`],
        ['the history', `/api/consultations/${id}/history`],
        ['the change mark', `/api/consultations/${id}/changes`],
        ['the worklist', '/api/consultations'],
      ] as const) {
        expect(code(await call(expertCall, 'GET', path)), what).to.equal('PRACTITIONER_NOT_VERIFIED');
      }
      expect(code(await call(expertCall, 'POST', `/api/consultations/${id}/visit-token`)), 'visit token').to.equal('PRACTITIONER_NOT_VERIFIED');
      const back = await visitClient({ sub: expertId, role: 'expert', room: c.roomId });
      expect(await refused(back.join()), 'room entry').to.equal('PRACTITIONER_NOT_VERIFIED');
      expect(code(await call(expertCall, 'POST', `/api/consultations/${id}/opinion`, { opinion: '暂停后试图签署的会诊意见。', recommendations: '' })), 'signing').to.equal('PRACTITIONER_NOT_VERIFIED');

      // The county hospital suspends its requester: the host leaves, and the room (now empty) closes.
      await call('countyAdmin', 'POST', `/api/directory/practitioners/${requester}/suspend`, { reason: '执业资格核查中' });
      expect((await host.waitFor('room:peerLeft', (n) => n.peerId === host.peerId)).reason).to.equal('suspended');
      expect(server.rooms.get(c.roomId), 'emptied and closed').to.equal(undefined);
      expect(code(await call(requesterCall, 'GET', `/api/consultations/${id}`)), 'requester: the record').to.equal('PRACTITIONER_NOT_VERIFIED');
      expect(code(await call(requesterCall, 'GET', `/api/consultations/${id}/documents/${doc!.documentId}`)), 'requester: a document').to.equal('PRACTITIONER_NOT_VERIFIED');
      expect(code(await call(requesterCall, 'POST', `/api/consultations/${id}/visit-token`)), 'requester: visit token').to.equal('PRACTITIONER_NOT_VERIFIED');
      const hostAgain = await visitClient({ sub: requester, role: 'host', room: c.roomId });
      expect(await refused(hostAgain.join()), 'requester: room entry').to.equal('PRACTITIONER_NOT_VERIFIED');
      const left = (await auditOf(`room:${c.roomId}`)).filter((e) => e.action === 'room.left').map((e) => `${e.actor}:${e.details['reason']}`);
      expect(left).to.include.members([`${expertId}:suspended`, `${requester}:suspended`]);
    });

    it('refuses visit tokens and room entry to a practitioner whose verification is not complete', async () => {
      const requester = await practitioner('dr-unv', 'qx-county', 'cardiology');
      const c = await visitOf(requester, 'dr-zhang');
      // Verification withdrawn pending a new check (as for a registration never verified): status pending, no certificate.
      await server.db.query(`UPDATE practitioners SET status = 'pending', certificate_pem = NULL WHERE practitioner_id = $1`, [requester]);
      expect(code(await call({ sub: requester, role: 'host' }, 'POST', `/api/consultations/${c.consultationId}/visit-token`))).to.equal('PRACTITIONER_NOT_VERIFIED');
      const host = await visitClient({ sub: requester, role: 'host', room: c.roomId });
      expect(await refused(host.join())).to.equal('PRACTITIONER_NOT_VERIFIED');
      const registered = await call('tertiaryAdmin', 'POST', '/api/directory/practitioners', {
        practitionerId: 'dr-pending', name: '待认证医生', licenceNumber: '110350000000199', institutionId: 'sy-tertiary', department: 'cardiology', profession: 'physician',
      });
      expect(registered.json.status).to.equal('pending');
      expect(code(await call({ sub: 'dr-pending', role: 'host' }, 'POST', `/api/consultations/${c.consultationId}/visit-token`)), 'never verified').to.equal('PRACTITIONER_NOT_VERIFIED');
      expect(code(await call('tertiaryAdmin', 'POST', `/api/consultations/${(await visitOf('dr-li', 'dr-zhang', 'requested')).consultationId}/accept`, { expertId: 'dr-pending' })), 'nor assigned').to.equal('PRACTITIONER_NOT_VERIFIED');
    });

    it('lifts a suspension only by an explicit, audited reinstatement — verifying again does not', async () => {
      const id = await practitioner('dr-back', 'qx-county', 'cardiology');
      const p = (await server.directory.repository.practitioner(id))!;
      await call('countyAdmin', 'POST', `/api/directory/practitioners/${id}/suspend`, { reason: '暂停核查' });
      const reverify = await call('countyAdmin', 'POST', `/api/directory/practitioners/${id}/verify`, { idDocumentType: 'resident_id', idDocumentNumber: '330102199001019999', licenceNumber: p.licenceNumber });
      expect(code(reverify), 're-verifying').to.equal('INVALID_STATE');
      expect((await server.directory.repository.practitioner(id))!.status).to.equal('suspended');
      expect(code(await call('tertiaryAdmin', 'POST', `/api/directory/practitioners/${id}/reinstate`, { reason: '核查完毕' })), 'another institution').to.equal('FORBIDDEN');
      expect(code(await call('countyAdmin', 'POST', `/api/directory/practitioners/${id}/reinstate`, {})), 'a reason is required').to.equal('VALIDATION_FAILED');
      const back = await call('countyAdmin', 'POST', `/api/directory/practitioners/${id}/reinstate`, { reason: '核查完毕，恢复执业' });
      expect(back.json.status).to.equal('verified');
      expect(code(await call('countyAdmin', 'POST', `/api/directory/practitioners/${id}/reinstate`, { reason: '再次恢复' })), 'not suspended').to.equal('INVALID_STATE');
      const trail = (await auditOf(`practitioner:${id}`)).map((e) => e.action);
      expect(trail).to.deep.equal(['directory.practitioner_registered', 'directory.practitioner_verified', 'directory.practitioner_suspended', 'directory.practitioner_reinstated']);
      const reinstated = (await auditOf(`practitioner:${id}`)).find((e) => e.action === 'directory.practitioner_reinstated')!;
      expect(reinstated).to.include({ actor: 'adm-qx' });
      expect(reinstated.details).to.deep.equal({ reason: '核查完毕，恢复执业' });
      expect((await call({ sub: id, role: 'host' }, 'GET', '/api/consultations')).status, 'acts again').to.equal(200);
    });
  });

  describe('acceptance and scheduling re-check what may have lapsed', () => {
    it('refuses to accept under an agreement that expired after the request, and to schedule with an expert suspended after accepting', async () => {
      const c = await requested();
      const agreement = (await server.db.query<{ agreement_id: string; valid_until: Date }>('SELECT a.agreement_id, a.valid_until FROM cooperation_agreements a JOIN consultations c ON c.agreement_id = a.agreement_id WHERE c.consultation_id = $1', [c.consultationId])).rows[0]!;
      await server.db.query(`UPDATE cooperation_agreements SET valid_until = now() - interval '1 minute' WHERE agreement_id = $1`, [agreement.agreement_id]);
      try {
        expect(code(await call('tertiaryAdmin', 'POST', `/api/consultations/${c.consultationId}/accept`, { expertId: 'dr-zhang' })), 'expired agreement').to.equal('DEPARTMENT_NOT_COVERED');
      } finally {
        await server.db.query('UPDATE cooperation_agreements SET valid_until = $2 WHERE agreement_id = $1', [agreement.agreement_id, agreement.valid_until]);
      }
      expect(((await call('countyDoctor', 'GET', `/api/consultations/${c.consultationId}`)).json as ConsultationView).status).to.equal('requested');

      const expertId = await practitioner('dr-later', 'sy-tertiary', 'cardiology', 'specialist');
      const accepted = await visitOf('dr-li', expertId, 'accepted');
      await call('tertiaryAdmin', 'POST', `/api/directory/practitioners/${expertId}/suspend`, { reason: '停职' });
      const slot = { start: new Date(Date.now() + 3600_000).toISOString(), end: new Date(Date.now() + 5400_000).toISOString() };
      expect(code(await call('tertiaryAdmin', 'POST', `/api/consultations/${accepted.consultationId}/schedule`, slot)), 'suspended expert').to.equal('PRACTITIONER_NOT_VERIFIED');
      expect(((await call('countyDoctor', 'GET', `/api/consultations/${accepted.consultationId}`)).json as ConsultationView).status).to.equal('accepted');
    });
  });

  describe('the directory', () => {
    it('refuses bad agreement dates as VALIDATION_FAILED naming the field', async () => {
      const platform = { sub: 'adm-platform', role: 'institution_admin', positions: ['platform_admin'] };
      const base = { invitingInstitutionId: 'xc-village', invitedInstitutionId: 'qx-county', departments: ['general_practice'] };
      const cases: Array<[string, Record<string, unknown>, string]> = [
        ['ends before it starts', { validFrom: '2026-06-01T00:00:00Z', validUntil: '2026-01-01T00:00:00Z' }, 'validUntil'],
        ['ends as it starts', { validFrom: '2026-06-01T00:00:00Z', validUntil: '2026-06-01T00:00:00Z' }, 'validUntil'],
        ['not a date', { validFrom: 'yesterday', validUntil: '2027-01-01T00:00:00Z' }, 'validFrom'],
        ['a day that does not exist', { validFrom: '2026-02-30T00:00:00Z', validUntil: '2027-01-01T00:00:00Z' }, 'validFrom'],
      ];
      for (const [what, dates, field] of cases) {
        const r = await call(platform, 'POST', '/api/directory/agreements', { ...base, ...dates });
        expect(r.status, `${what}: ${r.text}`).to.equal(400);
        expect(r.json.error.code, what).to.equal('VALIDATION_FAILED');
        expect((r.json.error.issues as Array<{ path: string }>).map((i) => i.path), what).to.include(field);
      }
      const ok = await call(platform, 'POST', '/api/directory/agreements', { ...base, validFrom: '2026-01-01T00:00:00Z', validUntil: '2027-01-01T00:00:00+08:00' });
      expect(ok.status, ok.text).to.equal(201);
    });
  });

  describe('the visit', () => {
    it('opens its room only after the expert confirms a follow-up, to its own verified people, under their verified names', async () => {
      const c = await requested();
      const id = c.consultationId;
      await call('tertiaryAdmin', 'POST', `/api/consultations/${id}/accept`, { expertId: 'dr-zhang' });
      await call('expert', 'POST', `/api/consultations/${id}/schedule`, { start: new Date().toISOString(), end: new Date(Date.now() + 3600_000).toISOString() });
      expect(code(await call('countyDoctor', 'POST', `/api/consultations/${id}/visit-token`)), 'not open yet').to.equal('INVALID_STATE');
      const early = await visitClient({ sub: 'dr-li', role: 'host', room: c.roomId });
      expect(await refused(early.join()), 'room before confirmation').to.equal('INVALID_STATE');
      expect(code(await call('countyDoctor', 'POST', `/api/consultations/${id}/confirm-follow-up`)), 'only the expert confirms').to.equal('FORBIDDEN');
      expect((await call('expert', 'POST', `/api/consultations/${id}/confirm-follow-up`)).json.status).to.equal('in_progress');

      const visit = await call('countyDoctor', 'POST', `/api/consultations/${id}/visit-token`);
      expect(visit.status, visit.text).to.equal(201);
      expect(visit.json).to.include({ role: 'host', roomId: c.roomId, displayName: '李医生' });
      // A token that claims another name still shows the verified one.
      const host = await visitClient({ sub: 'dr-li', role: 'host', room: c.roomId, name: 'AI 助手' });
      const joined = await host.join();
      expect(joined.status).to.equal('admitted');
      if (joined.status === 'admitted') expect(joined.self.displayName).to.equal('李医生');
      const stranger = await visitClient({ sub: 'dr-chen', role: 'expert', room: c.roomId });
      expect(await refused(stranger.join()), 'not this visit’s expert').to.equal('FORBIDDEN');
      const impostor = await visitClient({ sub: 'dr-wang-village', role: 'host', room: c.roomId });
      expect(await refused(impostor.join()), 'another host').to.equal('FORBIDDEN');
      const expert = await visitClient({ sub: 'dr-zhang', role: 'expert', room: c.roomId });
      const waiting = await expert.join();
      expect(waiting.status).to.equal('waiting');
      const item = { drug: '阿司匹林肠溶片', dose: '100mg', frequency: '每日一次', days: 30, quantity: '30片' };
      expect(await refused(expert.request('prescription:create', { items: [item] })), 'still in the lobby').to.equal('INVALID_STATE');
      await host.request('room:admit', { peerId: (waiting as { peerId: string }).peerId });
      await expert.waitFor('room:admitted');

      // Prescriptions: only in person, on camera in the visit; nothing counts before a pharmacist's review.
      expect((await call('expert', 'POST', `/api/consultations/${id}/prescriptions`, { items: [] })).status, 'no REST route creates one').to.equal(404);
      await expert.setUpMedia();
      expect(await refused(expert.request('prescription:create', { items: [item] })), 'admitted, but no camera').to.equal('IN_PERSON_REQUIRED');
      await expert.produce('mic');
      expect(await refused(expert.request('prescription:create', { items: [item] })), 'a microphone is not a camera').to.equal('IN_PERSON_REQUIRED');
      const camera = await expert.produce('camera');
      await expert.request('room:pauseProducer', { producerId: camera.id });
      expect(await refused(expert.request('prescription:create', { items: [item] })), 'camera paused').to.equal('IN_PERSON_REQUIRED');
      await expert.request('room:resumeProducer', { producerId: camera.id });
      const opioid = { ...item, drug: '盐酸羟考酮缓释片', dose: '10mg' };
      expect(await refused(expert.request('prescription:create', { items: [item, opioid] })), 'no narcotics online').to.equal('VALIDATION_FAILED');
      const before = (await server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM prescriptions WHERE consultation_id = $1', [id])).rows[0]!.n;
      expect(before, 'nothing was written by the refused attempts').to.equal(0);
      const rx = await expert.request('prescription:create', { items: [item] });
      expect(rx.status).to.equal('pending_review');
      const adHoc = await visitClient({ sub: 'dr-zhang', role: 'host', room: 'some-ad-hoc-room' });
      await adHoc.join();
      await onCamera(adHoc);
      expect(await refused(adHoc.request('prescription:create', { items: [item] })), 'outside a consultation visit').to.equal('FORBIDDEN');
      const outsider = await call('neurologist', 'GET', `/api/consultations/${id}`);
      expect(code(outsider), 'another department sees nothing').to.equal('NOT_FOUND');

      // A pending prescription counts for nobody but the practitioners: outline viewers do not see it.
      const outline = (await call('tertiaryAdmin', 'GET', `/api/consultations/${id}`)).json as ConsultationView;
      expect(outline.scope).to.equal('outline');
      expect(outline.prescriptions, 'pending: hidden from the outline').to.deep.equal([]);
      expect(((await call('countyDoctor', 'GET', `/api/consultations/${id}`)).json as ConsultationView).prescriptions.map((p) => p.status)).to.deep.equal(['pending_review']);

      expect(code(await call('countyDoctor', 'POST', `/api/prescriptions/${rx.prescriptionId}/review`, { decision: 'approve', comment: '' })), 'not a pharmacist').to.equal('FORBIDDEN');
      expect(code(await call('expert', 'POST', `/api/prescriptions/${rx.prescriptionId}/review`, { decision: 'approve', comment: '' })), 'the prescriber').to.equal('FORBIDDEN');
      const pending = await call('tertiaryPharmacist', 'GET', '/api/prescriptions/pending');
      expect((pending.json.prescriptions as Array<{ prescriptionId: string }>).map((p) => p.prescriptionId)).to.include(rx.prescriptionId);
      const approved = await call('tertiaryPharmacist', 'POST', `/api/prescriptions/${rx.prescriptionId}/review`, { decision: 'approve', comment: '剂量合理' });
      expect(approved.json).to.include({ status: 'approved', reviewedBy: 'ph-liu' });
      expect(code(await call('tertiaryPharmacist', 'POST', `/api/prescriptions/${rx.prescriptionId}/review`, { decision: 'reject', comment: 'x' }))).to.equal('INVALID_STATE');
      const released = (await call('tertiaryAdmin', 'GET', `/api/consultations/${id}`)).json as ConsultationView;
      expect(released.prescriptions.map((p) => p.status), 'approved: shown to the outline').to.deep.equal(['approved']);
    });

    it('escalates into the same room: the invitee is accepted, admitted from the lobby by the host, signs and completes without closing the visit; open escalations close with the visit', async () => {
      const c = await inProgress();
      const id = c.consultationId;
      const host = await visitClient({ sub: 'dr-li', role: 'host', room: c.roomId });
      await host.join();

      const escalate = (department: string, question: string) => call('countyDoctor', 'POST', `/api/consultations/${id}/escalations`, { invitedInstitutionId: 'sy-tertiary', department, question });
      const child = await escalate('neurology', '头晕伴肢体麻木，请神经内科会诊');
      expect(child.status, child.text).to.equal(201);
      const childId = child.json.consultationId as string;
      expect(child.json).to.include({ parentId: id, status: 'requested', roomId: c.roomId });
      expect(code(await call('neurologist', 'POST', `/api/consultations/${childId}/visit-token`)), 'not accepted yet').to.equal('FORBIDDEN');
      expect((await call('tertiaryAdmin', 'POST', `/api/consultations/${childId}/accept`, { expertId: 'dr-chen' })).json.status).to.equal('accepted');
      // An escalation has no schedule or follow-up confirmation of its own, and is not terminated on its own.
      const slot = { start: new Date().toISOString(), end: new Date(Date.now() + 600_000).toISOString() };
      expect(code(await call('neurologist', 'POST', `/api/consultations/${childId}/schedule`, slot)), 'no schedule').to.equal('INVALID_STATE');
      expect(code(await call('neurologist', 'POST', `/api/consultations/${childId}/confirm-follow-up`)), 'no confirmation').to.equal('INVALID_STATE');
      const referral = { institution: '省第一人民医院', department: '神经内科', advice: '线下就诊' };
      expect(code(await call('neurologist', 'POST', `/api/consultations/${childId}/terminate`, { reason: 'not_suitable_remote', note: '需查体', referral })), 'the visit’s expert terminates').to.equal('INVALID_STATE');

      // The invitee gets a token for the visit's own room, waits in its lobby, and the host admits them.
      const token = await call('neurologist', 'POST', `/api/consultations/${childId}/visit-token`);
      expect(token.status, token.text).to.equal(201);
      expect(token.json).to.include({ role: 'expert', roomId: c.roomId, displayName: '陈教授' });
      const neuro = await visitClient({ sub: 'dr-chen', role: 'expert', room: c.roomId });
      const waiting = await neuro.join();
      expect(waiting.status).to.equal('waiting');
      const lobby = await host.waitFor('room:lobby', (entries) => entries.some((e) => e.userId === 'dr-chen'));
      await host.request('room:admit', { peerId: lobby.find((e) => e.userId === 'dr-chen')!.peerId });
      const admitted = await neuro.waitFor('room:admitted');
      expect(admitted.peers.map((p) => p.userId), 'the invitee sees the host').to.include('dr-li');
      const joined = await host.waitFor('room:peerJoined', (p) => p.userId === 'dr-chen');
      expect(joined.displayName).to.equal('陈教授');
      const room = server.rooms.get(c.roomId)!;
      expect(room.members().map((m) => m.userId).sort(), 'one room, both in it').to.deep.equal(['dr-chen', 'dr-li']);

      // The invitee signs and completes the escalation; the visit and its room go on.
      expect(code(await call('neurologist', 'POST', `/api/consultations/${childId}/complete`)), 'no opinion yet').to.equal('INVALID_STATE');
      const signed = await call('neurologist', 'POST', `/api/consultations/${childId}/opinion`, { opinion: '考虑后循环缺血，建议完善头颅 MRI。', recommendations: '' });
      expect(signed.status, signed.text).to.equal(200);
      expect((await call('neurologist', 'POST', `/api/consultations/${childId}/complete`)).json.status).to.equal('completed');
      expect(server.rooms.get(c.roomId), 'the visit’s room is still open').to.equal(room);
      expect(room.closed).to.equal(false);
      expect(host.count('room:closed')).to.equal(0);
      expect(((await call('countyDoctor', 'GET', `/api/consultations/${id}`)).json as ConsultationView).status).to.equal('in_progress');
      const childEvents = (await server.supervision.repository.all()).filter((e) => e.payload['consultationId'] === childId);
      expect(childEvents.map((e) => e.topic)).to.deep.equal(['consultation.completed']);
      expect(childEvents[0]!.payload['parentId']).to.equal(id);
      // Its part done, the invitee no longer prescribes under it, and gets no new token.
      await onCamera(neuro);
      const item = { drug: '阿司匹林肠溶片', dose: '100mg', frequency: '每日一次', days: 7, quantity: '7片' };
      expect(await refused(neuro.request('prescription:create', { items: [item] })), 'the escalation is completed').to.equal('FORBIDDEN');
      expect(code(await call('neurologist', 'POST', `/api/consultations/${childId}/visit-token`)), 'completed escalation').to.equal('FORBIDDEN');

      // One cancelled after acceptance does not make a prescriber either; an open, accepted one does.
      const withdrawn = (await escalate('neurology', '第三个问题')).json.consultationId as string;
      await call('tertiaryAdmin', 'POST', `/api/consultations/${withdrawn}/accept`, { expertId: 'dr-chen' });
      expect((await call('countyDoctor', 'POST', `/api/consultations/${withdrawn}/cancel`, { reason: '问题已由本院解决' })).json.status).to.equal('cancelled');
      expect(await refused(neuro.request('prescription:create', { items: [item] })), 'the escalation is cancelled').to.equal('FORBIDDEN');
      const signedOpen = (await escalate('neurology', '复核：是否需要调整抗血小板治疗')).json.consultationId as string;
      expect(await refused(neuro.request('prescription:create', { items: [item] })), 'requested, not accepted').to.equal('FORBIDDEN');
      await call('tertiaryAdmin', 'POST', `/api/consultations/${signedOpen}/accept`, { expertId: 'dr-chen' });
      expect((await neuro.request('prescription:create', { items: [item] })).status, 'an accepted expert of an open escalation').to.equal('pending_review');
      await call('neurologist', 'POST', `/api/consultations/${signedOpen}/opinion`, { opinion: '同意继续阿司匹林，无需调整。', recommendations: '' });
      const unanswered = (await escalate('internal_medicine', '请内科协助评估血糖')).json.consultationId as string;

      // The visit's expert completes the visit: the room closes, and the open escalations close with it.
      const closed = host.waitFor('room:closed');
      await call('expert', 'POST', `/api/consultations/${id}/opinion`, { opinion: '稳定型心绞痛，继续目前治疗。', recommendations: '' });
      expect((await call('expert', 'POST', `/api/consultations/${id}/complete`)).json.status).to.equal('completed');
      await closed;
      const after = async (childOf: string) => (await call('countyDoctor', 'GET', `/api/consultations/${childOf}`)).json as ConsultationView;
      expect((await after(signedOpen)).status, 'had a signed opinion').to.equal('completed');
      const lapsed = await after(unanswered);
      expect(lapsed.status, 'never answered').to.equal('cancelled');
      expect(lapsed.cancellation).to.include({ code: 'visit_ended', by: 'dr-zhang' });
      const topics = async (of: string) => (await server.supervision.repository.all()).filter((e) => e.payload['consultationId'] === of).map((e) => e.topic);
      expect(await topics(signedOpen), 'reported with its opinion').to.deep.equal(['consultation.completed']);
      expect(await topics(unanswered), 'a lapsed invitation is not reported').to.deep.equal([]);
      expect((await server.supervision.repository.all()).find((e) => e.payload['consultationId'] === signedOpen)!.payload['opinion']).to.not.equal(null);
      expect(code(await call('tertiaryAdmin', 'POST', `/api/consultations/${unanswered}/accept`, { expertId: 'dr-chen' })), 'closed').to.equal('INVALID_STATE');
      expect(code(await call('countyDoctor', 'POST', `/api/consultations/${id}/escalations`, { invitedInstitutionId: 'sy-tertiary', department: 'neurology', question: '结束后再邀请' })), 'after the visit').to.equal('INVALID_STATE');
    });

    it('refuses an escalation outside any cooperation agreement or approved department', async () => {
      const c = await inProgress();
      const escalate = (invitedInstitutionId: string, department: string) =>
        call('countyDoctor', 'POST', `/api/consultations/${c.consultationId}/escalations`, { invitedInstitutionId, department, question: '请协助会诊评估' });
      expect(code(await escalate('sy-tertiary', 'general_practice')), 'a department the agreement does not cover').to.equal('DEPARTMENT_NOT_COVERED');
      expect(code(await escalate('sy-tertiary', 'psychiatry')), 'not approved for the county hospital').to.equal('DEPARTMENT_NOT_COVERED');
      expect(code(await escalate('xc-village', 'general_practice')), 'no agreement from the county hospital to the village clinic').to.equal('DEPARTMENT_NOT_COVERED');
      expect(code(await call('expert', 'POST', `/api/consultations/${c.consultationId}/escalations`, { invitedInstitutionId: 'sy-tertiary', department: 'neurology', question: '专家邀请' })), 'only the host').to.equal('FORBIDDEN');
      expect((await server.consultations.repository.children(c.consultationId)).length, 'nothing was created').to.equal(0);
    });

    it('signs the opinion with the expert’s certificate; any change breaks the signature', async () => {
      const c = await inProgress();
      const id = c.consultationId;
      expect(code(await call('expert', 'POST', `/api/consultations/${id}/complete`)), 'no opinion yet').to.equal('INVALID_STATE');
      expect(code(await call('countyDoctor', 'POST', `/api/consultations/${id}/opinion`, { opinion: '考虑稳定型心绞痛，继续双抗治疗。', recommendations: '' })), 'not the expert').to.equal('FORBIDDEN');
      const signed = await call('expert', 'POST', `/api/consultations/${id}/opinion`, { opinion: '考虑稳定型心绞痛，建议继续阿司匹林联合他汀治疗。', recommendations: '一月后复诊，必要时冠脉造影。' });
      expect(signed.status, signed.text).to.equal(200);
      expect(signed.json.opinion).to.include({ verified: true, expertName: '张教授' });
      // The expert's signing key was opened for this signature, and that is in the audit trail.
      const serial = (await server.directory.repository.practitioner('dr-zhang'))!.certificateSerial;
      const keyUses = (await server.audit.repository.forSubject('practitioner:dr-zhang')).filter((e) => e.action === 'key.unwrapped');
      expect(keyUses.at(-1)?.actor).to.equal('dr-zhang');
      expect(keyUses.at(-1)?.details).to.deep.equal({ key: 'practitioner_signing', purpose: OPINION_FORMAT, certificateSerial: serial });
      const verify = async () => (await call('countyDoctor', 'GET', `/api/consultations/${id}/opinion/verify`)).json.verified as boolean;
      expect(await verify()).to.equal(true);

      const original = (await server.db.query('SELECT * FROM consultation_opinions WHERE consultation_id = $1', [id])).rows[0]!;
      const tamper = async (sql: string, params: unknown[]) => {
        await server.db.query(sql, [id, ...params]);
        const result = await verify();
        await server.db.query(
          `UPDATE consultation_opinions SET body = $2, signed_at = $3, expert_id = $4, certificate_pem = $5, issuer_institution_id = $6, issuer_ca_sha256 = $7, version = $8 WHERE consultation_id = $1`,
          [id, JSON.stringify(original['body']), original['signed_at'], original['expert_id'], original['certificate_pem'], original['issuer_institution_id'], original['issuer_ca_sha256'], original['version']],
        );
        return result;
      };
      expect(await tamper(`UPDATE consultation_opinions SET body = jsonb_set(body, '{opinion}', to_jsonb($2::text)) WHERE consultation_id = $1`, ['建议停用阿司匹林。']), 'text changed').to.equal(false);
      expect(await tamper(`UPDATE consultation_opinions SET signed_at = signed_at + interval '1 minute' WHERE consultation_id = $1`, []), 'time changed').to.equal(false);
      expect(await tamper(`UPDATE consultation_opinions SET expert_id = 'dr-chen' WHERE consultation_id = $1`, []), 'signer changed').to.equal(false);
      const other = (await server.directory.repository.practitioner('dr-chen'))!.certificatePem!;
      expect(await tamper(`UPDATE consultation_opinions SET certificate_pem = $2 WHERE consultation_id = $1`, [other]), 'certificate swapped').to.equal(false);
      expect(await tamper(`UPDATE consultation_opinions SET version = 2 WHERE consultation_id = $1`, []), 'version renumbered').to.equal(false);
      expect(await tamper(`UPDATE consultation_opinions SET issuer_institution_id = 'qx-county' WHERE consultation_id = $1`, []), 'another issuing institution').to.equal(false);
      expect(await tamper(`UPDATE consultation_opinions SET issuer_ca_sha256 = repeat('0', 64) WHERE consultation_id = $1`, []), 'another CA').to.equal(false);
      expect(await verify(), 'restored').to.equal(true);

      const done = await call('expert', 'POST', `/api/consultations/${id}/complete`);
      expect(done.json.status).to.equal('completed');
      // The medical record is kept 15 years from the end of the consultation.
      const kept = await server.db.query<{ ended_at: Date; retain_until: Date }>('SELECT ended_at, retain_until FROM consultations WHERE consultation_id = $1', [id]);
      const years = (new Date(kept.rows[0]!.retain_until).getTime() - new Date(kept.rows[0]!.ended_at).getTime()) / (365.25 * 24 * 3600_000);
      expect(years).to.be.closeTo(15, 0.001);
      const events = (await server.supervision.repository.all()).filter((e) => e.payload['consultationId'] === id);
      expect(events.map((e) => e.topic)).to.deep.equal(['consultation.completed']);
      expect(JSON.stringify(events[0]!.payload)).not.to.include(patient.name).and.not.to.include(patient.mrn);
    });

    it('keeps every signed version of an amended opinion, refuses signing once completed (checked in the locked transaction), and reports the final version', async () => {
      const c = await inProgress();
      const id = c.consultationId;
      const v1 = await call('expert', 'POST', `/api/consultations/${id}/opinion`, { opinion: '初步意见：稳定型心绞痛，继续双抗。', recommendations: '两周后复诊' });
      expect(v1.json.opinion).to.include({ version: 1, verified: true });
      const v2 = await call('expert', 'POST', `/api/consultations/${id}/opinion`, { opinion: '修正意见：改为单抗治疗，加用他汀。', recommendations: '一月后复诊' });
      const amended = v2.json as ConsultationView;
      expect(amended.opinion).to.include({ version: 2, verified: true });
      expect(amended.opinion!.body.opinion).to.include('修正意见');
      expect(amended.earlierOpinions.map((o) => [o.version, o.body.opinion, o.verified]), 'the first version stays, still verifiable').to.deep.equal([[1, '初步意见：稳定型心绞痛，继续双抗。', true]]);
      const rows = await server.db.query<{ version: number }>('SELECT version FROM consultation_opinions WHERE consultation_id = $1 ORDER BY version', [id]);
      expect(rows.rows.map((r) => r.version)).to.deep.equal([1, 2]);
      // Dropping the superseded version breaks the chain: the later one names it.
      const first = (await server.db.query('SELECT * FROM consultation_opinions WHERE consultation_id = $1 AND version = 1', [id])).rows[0]!;
      await server.db.query('DELETE FROM consultation_opinions WHERE consultation_id = $1 AND version = 1', [id]);
      expect(await server.consultations.verifyOpinion(id), 'version 1 removed').to.equal(false);
      await server.db.query(
        `INSERT INTO consultation_opinions (consultation_id, version, body_format, expert_id, body, signed_at, signature, certificate_pem, issuer_institution_id, issuer_ca_sha256)
         VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [id, first['body_format'], first['expert_id'], JSON.stringify(first['body']), first['signed_at'], first['signature'], first['certificate_pem'], first['issuer_institution_id'], first['issuer_ca_sha256']],
      );
      expect(await server.consultations.verifyOpinion(id), 'restored').to.equal(true);
      // Anyone signing again through the repository cannot overwrite a version either.
      const latest = (await server.consultations.repository.opinion(id))!;
      let overwrite: unknown = null;
      await server.consultations.repository.insertOpinion({ ...latest, body: { opinion: '篡改', recommendations: '' } }).catch((err: unknown) => {
        overwrite = err;
      });
      expect(overwrite, 'a version is never replaced').to.be.instanceOf(Error);

      // The consultation completes while a third signature is being made: the transaction sees it and refuses.
      const directory = server.directory as unknown as { signAs: typeof server.directory.signAs };
      const signAs = directory.signAs;
      directory.signAs = async (...args) => {
        const signature = await signAs.apply(server.directory, args);
        await server.consultations.complete(identityOf('dr-zhang'), id);
        return signature;
      };
      try {
        expect(code(await call('expert', 'POST', `/api/consultations/${id}/opinion`, { opinion: '第三版：在完成的同时签署。', recommendations: '' })), 'completed meanwhile').to.equal('INVALID_STATE');
      } finally {
        directory.signAs = signAs;
      }
      expect((await server.consultations.repository.opinions(id)).map((o) => o.version), 'nothing added').to.deep.equal([1, 2]);
      expect(code(await call('expert', 'POST', `/api/consultations/${id}/opinion`, { opinion: '完成后再修改的意见文本。', recommendations: '' })), 'after completion').to.equal('INVALID_STATE');
      const [event] = (await server.supervision.repository.all()).filter((e) => e.payload['consultationId'] === id);
      expect(event!.payload['opinion']).to.include({ version: 2, signature: latest.signature });
      const seen = (await call('countyDoctor', 'GET', `/api/consultations/${id}`)).json as ConsultationView;
      expect([seen.opinion!.version, ...seen.earlierOpinions.map((o) => o.version)]).to.deep.equal([2, 1]);
    });

    it('verifies an opinion against the CA that issued it and the expert’s licence number, not the expert’s current institution', async () => {
      const expert = await practitioner('dr-mover', 'sy-tertiary', 'cardiology', 'specialist');
      const c = await visitOf('dr-li', expert);
      const id = c.consultationId;
      await call({ sub: expert, role: 'host' }, 'POST', `/api/consultations/${id}/opinion`, { opinion: '考虑稳定型心绞痛，继续目前治疗。', recommendations: '' });
      expect(await server.consultations.verifyOpinion(id)).to.equal(true);
      const stored = (await server.consultations.repository.opinion(id))!;
      expect(stored.issuerInstitutionId).to.equal('sy-tertiary');
      const ca = (await server.directory.repository.institutionCa('sy-tertiary'))!;
      expect(stored.issuerCaSha256).to.equal(crypto.createHash('sha256').update(new crypto.X509Certificate(ca.certificatePem).raw).digest('hex'));
      // The expert later moves to the county hospital: what they signed at the tertiary hospital still verifies.
      await server.db.query(`UPDATE practitioners SET institution_id = 'qx-county' WHERE practitioner_id = $1`, [expert]);
      expect(await server.consultations.verifyOpinion(id), 'after moving institution').to.equal(true);
      // A certificate that does not carry the expert's licence number does not vouch for them.
      await server.db.query(`UPDATE practitioners SET licence_number = '990000000000001' WHERE practitioner_id = $1`, [expert]);
      expect(await server.consultations.verifyOpinion(id), 'licence number differs from the certificate').to.equal(false);
    });

    it('terminates a visit judged a first visit, with the reason and a referral the requester sees, and closes the room', async () => {
      const c = await inProgress();
      const id = c.consultationId;
      const host = await visitClient({ sub: 'dr-li', role: 'host', room: c.roomId });
      await host.join();
      const closed = host.waitFor('room:closed');
      const referral = { institution: '省第一人民医院', department: '心内科门诊', advice: '请于一周内线下就诊，携带既往病历' };
      expect(code(await call('countyDoctor', 'POST', `/api/consultations/${id}/terminate`, { reason: 'first_visit', note: '首次出现的症状', referral })), 'only the expert').to.equal('FORBIDDEN');
      const t = await call('expert', 'POST', `/api/consultations/${id}/terminate`, { reason: 'condition_changed', note: '胸痛性质改变，需线下急诊评估', referral });
      expect(t.json.status).to.equal('terminated');
      await closed;
      const seen = (await call('countyDoctor', 'GET', `/api/consultations/${id}`)).json as ConsultationView;
      expect(seen.termination).to.deep.include({ reason: 'condition_changed', referral, by: 'dr-zhang' });
      const again = await visitClient({ sub: 'dr-li', role: 'host', room: c.roomId });
      expect(await refused(again.join())).to.equal('INVALID_STATE');
      const events = (await server.supervision.repository.all()).filter((e) => e.payload['consultationId'] === id);
      expect(events.map((e) => e.topic)).to.deep.equal(['consultation.terminated']);
    });
  });

  describe('supervision outbox', () => {
    async function receiver(behaviour: (attempt: number) => 'ok' | 'fail' | 'hang') {
      const received: Array<{ eventId: string; body: string; signature: string }> = [];
      let attempts = 0;
      const hanging: http.ServerResponse[] = [];
      const srv = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          attempts += 1;
          const mode = behaviour(attempts);
          if (mode === 'hang') {
            hanging.push(res);
            return;
          }
          if (mode === 'fail') {
            res.writeHead(503).end();
            return;
          }
          const eventId = String(req.headers['x-huizhen-event-id']);
          // The receiver de-duplicates on the event id, as the protocol asks.
          if (!received.some((r) => r.eventId === eventId)) received.push({ eventId, body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['x-huizhen-signature']) });
          res.writeHead(200).end('{}');
        });
      });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      return {
        url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/events`,
        received,
        attempts: () => attempts,
        close: () => {
          for (const res of hanging) res.destroy();
          srv.closeAllConnections();
          return new Promise<void>((r) => srv.close(() => r()));
        },
      };
    }

    const dispatcher = (endpoint: string, over: { maxAttempts?: number; timeoutMs?: number } = {}) =>
      new SupervisionDispatcher({
        db: server.db,
        config: { endpoint, maxAttempts: over.maxAttempts ?? 5, retryBaseMs: 1000, timeoutMs: over.timeoutMs ?? 2000 },
        signer: server.manifestSigner,
        audit: server.audit,
        log: pino({ level: 'silent' }),
      });

    /** Runs passes until nothing is due, moving the clock past each backoff. */
    async function drain(d: SupervisionDispatcher, passes: number) {
      for (let i = 0; i < passes; i += 1) await d.deliverDue(new Date(Date.now() + (i + 1) * 3600_000 * 2));
    }

    it('delivers exactly once, signed, to a receiver that fails the first attempts', async () => {
      const c = await inProgress();
      await call('expert', 'POST', `/api/consultations/${c.consultationId}/opinion`, { opinion: '同意县医院诊断，继续目前治疗方案。', recommendations: '' });
      await call('expert', 'POST', `/api/consultations/${c.consultationId}/complete`);
      const event = (await server.supervision.repository.all()).find((e) => e.payload['consultationId'] === c.consultationId)!;
      // Other tests' events are moved out of the way: this test watches one event.
      await server.db.query(`UPDATE supervision_outbox SET status = 'delivered' WHERE event_id <> $1 AND status = 'pending'`, [event.eventId]);
      const rx = await receiver((n) => (n <= 2 ? 'fail' : 'ok'));
      try {
        const d = dispatcher(rx.url);
        await drain(d, 5);
        expect(rx.attempts()).to.equal(3);
        expect(rx.received).to.have.length(1);
        const stored = (await server.supervision.repository.get(event.eventId))!;
        expect(stored).to.include({ status: 'delivered', attempts: 3 });
        const body = JSON.parse(rx.received[0]!.body) as Record<string, unknown>;
        expect(body).to.include({ eventId: event.eventId, topic: 'consultation.completed' });
        expect(rx.received[0]!.body).to.equal(canonicalJson(body));
        expect(verifyCanonical(body, { value: rx.received[0]!.signature }, server.manifestSigner.publicKeyPem)).to.equal(true);
        await drain(d, 2);
        expect(rx.attempts(), 'nothing sent again once delivered').to.equal(3);
      } finally {
        await rx.close();
      }
    });

    it('dead-letters an event whose receiver never answers, and flags it in the audit trail', async () => {
      const c = await inProgress();
      await call('expert', 'POST', `/api/consultations/${c.consultationId}/terminate`, {
        reason: 'not_suitable_remote',
        note: '需体格检查',
        referral: { institution: '青县人民医院', department: '心内科', advice: '线下就诊' },
      });
      const event = (await server.supervision.repository.all()).find((e) => e.payload['consultationId'] === c.consultationId)!;
      await server.db.query(`UPDATE supervision_outbox SET status = 'delivered' WHERE event_id <> $1 AND status = 'pending'`, [event.eventId]);
      const rx = await receiver(() => 'hang');
      try {
        const d = dispatcher(rx.url, { maxAttempts: 3, timeoutMs: 300 });
        await drain(d, 5);
        expect(rx.attempts()).to.equal(3);
        expect((await server.supervision.repository.get(event.eventId))!).to.include({ status: 'dead', attempts: 3, lastError: 'timed out' });
        await server.audit.flush();
        const flagged = (await server.audit.repository.forSubject(`event:${event.eventId}`)).filter((e) => e.action === 'supervision.dead_lettered');
        expect(flagged).to.have.length(1);
        expect(flagged[0]!.flagged).to.equal(true);
      } finally {
        await rx.close();
      }
    });

    it('counts pending, dead-lettered and delivered events in /metrics', async () => {
      const scrape = async () => {
        const res = await get(server, '/metrics');
        expect(res.status).to.equal(200);
        const out: Record<string, number> = {};
        for (const m of res.text.matchAll(/^huizhen_supervision_outbox_events\{status="(\w+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
        return out;
      };
      const before = await scrape();
      expect(before).to.deep.equal(await server.supervision.repository.counts());
      await server.db.query(`INSERT INTO supervision_outbox (event_id, topic, payload, status, attempts) VALUES ($1, 'consultation.completed', '{}', 'dead', 5)`, [`evt-${crypto.randomUUID()}`]);
      await server.db.query(`INSERT INTO supervision_outbox (event_id, topic, payload, status) VALUES ($1, 'consultation.completed', '{}', 'pending')`, [`evt-${crypto.randomUUID()}`]);
      const after = await scrape();
      expect(after).to.deep.equal({ pending: before['pending']! + 1, dead: before['dead']! + 1, delivered: before['delivered']! });
    });
  });
});
