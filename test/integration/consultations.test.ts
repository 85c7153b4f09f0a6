/**
 * The consultation workflow and the rules of internet diagnosis, against a
 * real server with the development directory (a village clinic, a county
 * hospital, a tertiary hospital, agreements and verified practitioners).
 * Each rule is tested on its refusal path as well as its happy path.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { pino } from 'pino';
import { SupervisionDispatcher } from '../../server/domain/supervision/SupervisionOutbox.ts';
import { verifyCanonical } from '../../server/pki/signatures.ts';
import type { ConsultationView } from '../../server/protocol/consultation.ts';
import { canonicalJson } from '../../server/util/canonicalJson.ts';
import { RoomClient, RequestFailed } from '../support/roomClient.ts';
import { httpsRequest, startTestServer, type HttpResult, type TestServer } from '../support/server.ts';
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
      await host.request('room:admit', { peerId: (waiting as { peerId: string }).peerId });
      await expert.waitFor('room:admitted');

      // Prescriptions: only in person, from the visit; nothing counts before a pharmacist's review.
      expect((await call('expert', 'POST', `/api/consultations/${id}/prescriptions`, { items: [] })).status, 'no REST route creates one').to.equal(404);
      const item = { drug: '阿司匹林肠溶片', dose: '100mg', frequency: '每日一次', days: 30, quantity: '30片' };
      const opioid = { ...item, drug: '盐酸羟考酮缓释片', dose: '10mg' };
      expect(await refused(expert.request('prescription:create', { items: [item, opioid] })), 'no narcotics online').to.equal('VALIDATION_FAILED');
      const rx = await expert.request('prescription:create', { items: [item] });
      expect(rx.status).to.equal('pending_review');
      const adHoc = await visitClient({ sub: 'dr-zhang', role: 'host', room: 'some-ad-hoc-room' });
      await adHoc.join();
      expect(await refused(adHoc.request('prescription:create', { items: [item] })), 'outside a consultation visit').to.equal('FORBIDDEN');
      const outsider = await call('neurologist', 'GET', `/api/consultations/${id}`);
      expect(code(outsider), 'another department sees nothing').to.equal('NOT_FOUND');
      expect(code(await call('countyDoctor', 'POST', `/api/prescriptions/${rx.prescriptionId}/review`, { decision: 'approve', comment: '' })), 'not a pharmacist').to.equal('FORBIDDEN');
      expect(code(await call('expert', 'POST', `/api/prescriptions/${rx.prescriptionId}/review`, { decision: 'approve', comment: '' })), 'the prescriber').to.equal('FORBIDDEN');
      const pending = await call('tertiaryPharmacist', 'GET', '/api/prescriptions/pending');
      expect((pending.json.prescriptions as Array<{ prescriptionId: string }>).map((p) => p.prescriptionId)).to.include(rx.prescriptionId);
      const approved = await call('tertiaryPharmacist', 'POST', `/api/prescriptions/${rx.prescriptionId}/review`, { decision: 'approve', comment: '剂量合理' });
      expect(approved.json).to.include({ status: 'approved', reviewedBy: 'ph-liu' });
      expect(code(await call('tertiaryPharmacist', 'POST', `/api/prescriptions/${rx.prescriptionId}/review`, { decision: 'reject', comment: 'x' }))).to.equal('INVALID_STATE');

      // Escalation: a neurologist of the tertiary hospital is invited into the same room.
      const child = await call('countyDoctor', 'POST', `/api/consultations/${id}/escalations`, { invitedInstitutionId: 'sy-tertiary', department: 'neurology', question: '头晕伴肢体麻木，请神经内科会诊' });
      expect(child.status, child.text).to.equal(201);
      expect(child.json).to.include({ parentId: id, status: 'requested', roomId: c.roomId });
      await call('tertiaryAdmin', 'POST', `/api/consultations/${child.json.consultationId}/accept`, { expertId: 'dr-chen' });
      const neuro = await visitClient({ sub: 'dr-chen', role: 'expert', room: c.roomId });
      const neuroWaiting = await neuro.join();
      expect(neuroWaiting.status).to.equal('waiting');
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
      expect(keyUses.at(-1)?.details).to.deep.equal({ key: 'practitioner_signing', purpose: 'huizhen-consultation-opinion/1', certificateSerial: serial });
      const verify = async () => (await call('countyDoctor', 'GET', `/api/consultations/${id}/opinion/verify`)).json.verified as boolean;
      expect(await verify()).to.equal(true);

      const original = await server.consultations.repository.opinion(id);
      const tamper = async (sql: string, params: unknown[]) => {
        await server.db.query(sql, [id, ...params]);
        const result = await verify();
        await server.consultations.repository.insertOpinion(original!);
        return result;
      };
      expect(await tamper(`UPDATE consultation_opinions SET body = jsonb_set(body, '{opinion}', to_jsonb($2::text)) WHERE consultation_id = $1`, ['建议停用阿司匹林。']), 'text changed').to.equal(false);
      expect(await tamper(`UPDATE consultation_opinions SET signed_at = signed_at + interval '1 minute' WHERE consultation_id = $1`, []), 'time changed').to.equal(false);
      expect(await tamper(`UPDATE consultation_opinions SET expert_id = 'dr-chen' WHERE consultation_id = $1`, []), 'signer changed').to.equal(false);
      const other = (await server.directory.repository.practitioner('dr-chen'))!.certificatePem!;
      expect(await tamper(`UPDATE consultation_opinions SET certificate_pem = $2 WHERE consultation_id = $1`, [other]), 'certificate swapped').to.equal(false);
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
  });
});
