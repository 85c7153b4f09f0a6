/**
 * REST for the directory and consultations.
 *
 *   GET  /api/directory                                  institutions, agreements (any signed-in staff)
 *   POST /api/directory/institutions | agreements         platform administrator
 *   GET  /api/directory/practitioners?institution=…       an institution's practitioners
 *   POST /api/directory/practitioners                     institution administrator registers
 *   POST /api/directory/practitioners/:id/verify          … verifies (issues the certificate)
 *   POST /api/directory/practitioners/:id/suspend          (at once, also in live rooms)
 *   POST /api/directory/practitioners/:id/reinstate        lifts a suspension (audited)
 *   GET  /api/consultations                               my worklist: cards without patient identifiers
 *   POST /api/consultations                               a draft request
 *   GET  /api/consultations/:id                           as the caller may see it (audited)
 *   GET  /api/consultations/:id/changes                   status and version only, for polling (not a view; not audited)
 *   POST /api/consultations/:id/documents?kind=…&name=…   raw body: a prior diagnosis document
 *   GET  /api/consultations/:id/documents/:doc            the document (after accepting; audited)
 *   GET  /api/consultations/:id/history                   the patient's past consultations (after accepting)
 *   POST /api/consultations/:id/consent | submit | accept | schedule | confirm-follow-up
 *        | terminate | opinion | complete | cancel | escalations
 *   GET  /api/consultations/:id/opinion/verify            signature check of the opinion
 *   POST /api/consultations/:id/visit-token               a short-lived token for the visit's room (verified practitioners)
 *   GET  /api/prescriptions/pending                       a pharmacist's queue
 *   POST /api/prescriptions/:id/review                    a pharmacist's decision
 *
 * There is deliberately no route that creates a prescription (see
 * PrescriptionService).
 */
import express, { Router } from 'express';
import { z } from 'zod';
import type { ConsultationService } from '../../../domain/consultations/ConsultationService.ts';
import type { PrescriptionService } from '../../../domain/consultations/PrescriptionService.ts';
import type { DirectoryService } from '../../../domain/directory/DirectoryService.ts';
import { ForbiddenError, ServiceUnavailableError, ValidationError } from '../../../errors.ts';
import type { TokenIssuer } from '../../auth/tokenIssuer.ts';
import { DOCUMENT_KINDS, INSTITUTION_LEVELS, PROFESSIONS, TERMINATION_REASONS } from '../../../protocol/consultation.ts';
import type { TokenVerifier } from '../../auth/tokenVerifier.ts';
import { authenticate, identityOf } from '../authenticate.ts';
import { identifier, parse, pathParam } from '../validate.ts';

const id = identifier;
const code = z.string().regex(/^[a-z][a-z0-9_]{1,39}$/, 'must be lower-case letters, digits and _');
const text = (min: number, max: number) => z.string().trim().min(min).max(max);

const schemas = {
  institution: z.strictObject({ institutionId: id, name: text(2, 100), level: z.enum(INSTITUTION_LEVELS), departments: z.array(code).min(1).max(100) }),
  agreement: z
    .strictObject({
      invitingInstitutionId: id,
      invitedInstitutionId: id,
      departments: z.array(code).min(1).max(100),
      validFrom: z.iso.datetime({ offset: true }),
      validUntil: z.iso.datetime({ offset: true }),
    })
    .superRefine((a, ctx) => {
      if (a.invitingInstitutionId === a.invitedInstitutionId) ctx.addIssue({ code: 'custom', path: ['invitedInstitutionId'], message: 'must be another institution than the inviting one' });
      if (!(Date.parse(a.validUntil) > Date.parse(a.validFrom))) ctx.addIssue({ code: 'custom', path: ['validUntil'], message: 'must be after validFrom' });
    }),
  practitioner: z.strictObject({
    practitionerId: id,
    name: text(2, 50),
    licenceNumber: text(6, 40),
    institutionId: id,
    department: code,
    profession: z.enum(PROFESSIONS),
  }),
  verify: z.strictObject({ idDocumentType: z.enum(['resident_id', 'passport', 'other']), idDocumentNumber: text(6, 40), licenceNumber: text(6, 40) }),
  suspend: z.strictObject({ reason: text(2, 500) }),
  reinstate: z.strictObject({ reason: text(2, 500) }),
  draft: z.strictObject({
    invitedInstitutionId: id,
    department: code,
    patient: z.strictObject({
      name: text(1, 50),
      mrn: text(1, 50),
      sex: z.enum(['female', 'male', 'other']),
      birthDate: z.iso.date(),
      userId: id.optional(),
    }),
    summary: z.strictObject({ chiefComplaint: text(2, 1000), priorDiagnosis: text(2, 1000), question: text(2, 2000) }),
  }),
  consent: z.strictObject({ method: z.enum(['written', 'verbal_witnessed', 'in_app']), textVersion: text(1, 64) }),
  accept: z.strictObject({ expertId: id }),
  schedule: z.strictObject({ start: z.iso.datetime(), end: z.iso.datetime() }),
  terminate: z.strictObject({
    reason: z.enum(TERMINATION_REASONS),
    note: text(2, 1000),
    referral: z.strictObject({ institution: text(2, 100), department: text(1, 100), advice: text(2, 1000) }),
  }),
  opinion: z.strictObject({ opinion: text(10, 10_000), recommendations: text(0, 5000) }),
  cancel: z.strictObject({ reason: text(2, 500) }),
  escalate: z.strictObject({ invitedInstitutionId: id, department: code, question: text(2, 2000) }),
  review: z.strictObject({ decision: z.enum(['approve', 'reject']), comment: text(0, 500) }),
  upload: z.strictObject({ kind: z.enum(DOCUMENT_KINDS), name: text(1, 200) }),
};

const DOCUMENT_TYPES = ['application/pdf', 'image/jpeg', 'image/png', 'text/plain'];

export function consultationRoutes(deps: {
  verifier: TokenVerifier;
  directory: DirectoryService;
  consultations: ConsultationService;
  prescriptions: PrescriptionService;
  maxDocumentBytes: number;
  /** Mints visit tokens (null when this server only verifies tokens). */
  tokenIssuer: TokenIssuer | null;
  visitTokenTtlSeconds: number;
}): Router {
  const { directory, consultations, prescriptions } = deps;
  const router = Router();
  const auth = authenticate(deps.verifier);

  // --- Directory ---------------------------------------------------------------
  router.get('/api/directory', auth, async (req, res) => {
    const who = identityOf(req);
    if (who.role === 'patient') throw new ForbiddenError('Staff only.');
    res.json({ institutions: await directory.repository.institutions(), agreements: await directory.repository.agreements() });
  });
  router.post('/api/directory/institutions', auth, async (req, res) => {
    res.status(201).json(await directory.createInstitution(identityOf(req), parse(schemas.institution, req.body, 'institution')));
  });
  router.post('/api/directory/agreements', auth, async (req, res) => {
    res.status(201).json(await directory.createAgreement(identityOf(req), parse(schemas.agreement, req.body, 'agreement')));
  });
  router.get('/api/directory/practitioners', auth, async (req, res) => {
    const who = identityOf(req);
    if (who.role === 'patient') throw new ForbiddenError('Staff only.');
    const institution = parse(id, req.query['institution'], 'institution');
    const list = await directory.repository.practitioners(institution);
    res.json({
      practitioners: list.map((p) => ({
        practitionerId: p.practitionerId,
        name: p.name,
        licenceNumber: p.licenceNumber,
        institutionId: p.institutionId,
        department: p.department,
        profession: p.profession,
        status: p.status,
        verifiedAt: p.verifiedAt?.toISOString() ?? null,
        certificateSerial: p.certificateSerial,
      })),
    });
  });
  router.post('/api/directory/practitioners', auth, async (req, res) => {
    const p = await directory.registerPractitioner(identityOf(req), parse(schemas.practitioner, req.body, 'practitioner'));
    res.status(201).json({ practitionerId: p.practitionerId, status: p.status });
  });
  router.post('/api/directory/practitioners/:id/verify', auth, async (req, res) => {
    const p = await directory.verifyPractitioner(identityOf(req), pathParam(req, 'id'), parse(schemas.verify, req.body, 'verification'));
    res.json({ practitionerId: p.practitionerId, status: p.status, certificateSerial: p.certificateSerial, certificatePem: p.certificatePem });
  });
  router.post('/api/directory/practitioners/:id/suspend', auth, async (req, res) => {
    const p = await directory.suspendPractitioner(identityOf(req), pathParam(req, 'id'), parse(schemas.suspend, req.body, 'suspension').reason);
    res.json({ practitionerId: p.practitionerId, status: p.status });
  });
  router.post('/api/directory/practitioners/:id/reinstate', auth, async (req, res) => {
    const p = await directory.reinstatePractitioner(identityOf(req), pathParam(req, 'id'), parse(schemas.reinstate, req.body, 'reinstatement').reason);
    res.json({ practitionerId: p.practitionerId, status: p.status });
  });

  // --- Consultations ---------------------------------------------------------------
  router.get('/api/consultations', auth, async (req, res) => {
    res.json({ consultations: await consultations.inbox(identityOf(req)) });
  });
  router.post('/api/consultations', auth, async (req, res) => {
    res.status(201).json(await consultations.draft(identityOf(req), parse(schemas.draft, req.body, 'consultation request')));
  });
  router.get('/api/consultations/:id', auth, async (req, res) => {
    res.setHeader('Cache-Control', 'no-store, private');
    res.json(await consultations.view(identityOf(req), pathParam(req, 'id')));
  });
  router.get('/api/consultations/:id/changes', auth, async (req, res) => {
    res.setHeader('Cache-Control', 'no-store, private');
    res.json(await consultations.changes(identityOf(req), pathParam(req, 'id')));
  });
  router.post(
    '/api/consultations/:id/documents',
    auth,
    express.raw({ type: () => true, limit: deps.maxDocumentBytes }),
    async (req, res) => {
      const meta = parse(schemas.upload, { kind: req.query['kind'], name: req.query['name'] }, 'document');
      const contentType = String(req.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (!DOCUMENT_TYPES.includes(contentType)) throw new ValidationError(`documents are ${DOCUMENT_TYPES.join(', ')}`);
      const data = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      res.status(201).json(await consultations.uploadDocument(identityOf(req), pathParam(req, 'id'), { kind: meta.kind, fileName: meta.name, contentType, data }));
    },
  );
  router.get('/api/consultations/:id/documents/:doc', auth, async (req, res) => {
    const { doc, data } = await consultations.document(identityOf(req), pathParam(req, 'id'), pathParam(req, 'doc'));
    res.setHeader('Content-Type', doc.contentType);
    res.setHeader('Content-Disposition', `inline; filename*=UTF-8''${encodeURIComponent(doc.fileName)}`);
    res.setHeader('Cache-Control', 'no-store, private');
    res.send(data);
  });
  router.get('/api/consultations/:id/history', auth, async (req, res) => {
    res.json({ history: await consultations.history(identityOf(req), pathParam(req, 'id')) });
  });
  router.post('/api/consultations/:id/consent', auth, async (req, res) => {
    res.json(await consultations.recordConsent(identityOf(req), pathParam(req, 'id'), parse(schemas.consent, req.body, 'consent')));
  });
  router.post('/api/consultations/:id/submit', auth, async (req, res) => {
    res.json(await consultations.submit(identityOf(req), pathParam(req, 'id')));
  });
  router.post('/api/consultations/:id/accept', auth, async (req, res) => {
    res.json(await consultations.accept(identityOf(req), pathParam(req, 'id'), parse(schemas.accept, req.body, 'acceptance')));
  });
  router.post('/api/consultations/:id/schedule', auth, async (req, res) => {
    const body = parse(schemas.schedule, req.body, 'slot');
    res.json(await consultations.schedule(identityOf(req), pathParam(req, 'id'), { start: new Date(body.start), end: new Date(body.end) }));
  });
  router.post('/api/consultations/:id/confirm-follow-up', auth, async (req, res) => {
    res.json(await consultations.confirmFollowUp(identityOf(req), pathParam(req, 'id')));
  });
  router.post('/api/consultations/:id/terminate', auth, async (req, res) => {
    res.json(await consultations.terminate(identityOf(req), pathParam(req, 'id'), parse(schemas.terminate, req.body, 'termination')));
  });
  router.post('/api/consultations/:id/opinion', auth, async (req, res) => {
    res.json(await consultations.signOpinion(identityOf(req), pathParam(req, 'id'), parse(schemas.opinion, req.body, 'opinion')));
  });
  router.get('/api/consultations/:id/opinion/verify', auth, async (req, res) => {
    await consultations.view(identityOf(req), pathParam(req, 'id'), { audit: false });
    res.json({ verified: await consultations.verifyOpinion(pathParam(req, 'id')) });
  });
  router.post('/api/consultations/:id/complete', auth, async (req, res) => {
    res.json(await consultations.complete(identityOf(req), pathParam(req, 'id')));
  });
  router.post('/api/consultations/:id/cancel', auth, async (req, res) => {
    res.json(await consultations.cancel(identityOf(req), pathParam(req, 'id'), parse(schemas.cancel, req.body, 'cancellation').reason));
  });
  router.post('/api/consultations/:id/visit-token', auth, async (req, res) => {
    const who = identityOf(req);
    const visit = await consultations.visitRole(who, pathParam(req, 'id'));
    if (!deps.tokenIssuer) throw new ServiceUnavailableError('this server does not issue visit tokens; your identity provider does');
    const issued = deps.tokenIssuer.issue({ userId: who.userId, role: visit.role, roomId: visit.roomId, displayName: visit.displayName, ttlSeconds: deps.visitTokenTtlSeconds });
    res.status(201).json({ token: issued.token, expiresAt: issued.expiresAt, roomId: visit.roomId, role: visit.role, displayName: visit.displayName });
  });
  router.post('/api/consultations/:id/escalations', auth, async (req, res) => {
    res.status(201).json(await consultations.escalate(identityOf(req), pathParam(req, 'id'), parse(schemas.escalate, req.body, 'escalation')));
  });

  // --- Pharmacist review -------------------------------------------------------------
  router.get('/api/prescriptions/pending', auth, async (req, res) => {
    res.json({ prescriptions: await prescriptions.pendingFor(identityOf(req)) });
  });
  router.post('/api/prescriptions/:id/review', auth, async (req, res) => {
    res.json(await prescriptions.review(identityOf(req), pathParam(req, 'id'), parse(schemas.review, req.body, 'review')));
  });

  return router;
}
