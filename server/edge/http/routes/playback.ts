/**
 * REST for recordings review and playback approval (back-office tokens):
 *
 *   GET  /api/recordings                         what can be seen without approval
 *   POST /api/recordings/:id/break-glass         immediate access, flagged, reviewed later
 *   GET  /api/playback-requests?view=mine|queue|oversight
 *   POST /api/playback-requests                  { recordingId, purpose, caseReference }
 *   GET  /api/playback-requests/:id
 *   POST /api/playback-requests/:id/decisions    { tier, decision, comment }
 *   POST /api/playback-requests/:id/revoke       { reason }
 *   POST /api/playback-requests/:id/review       { outcome, comment }   (break-glass)
 *   POST /api/playback-requests/:id/plays        opens a play session (one play); sets its cookie
 *   POST /api/recordings/:id/classification      { addCategories?, department? }  (medical records staff)
 */
import { Router } from 'express';
import { z } from 'zod';
import type { ApprovalService } from '../../../domain/approvals/ApprovalService.ts';
import type { PlaybackService } from '../../../domain/playback/PlaybackService.ts';
import type { TokenVerifier } from '../../auth/tokenVerifier.ts';
import { authenticate, identityOf } from '../authenticate.ts';
import { identifier, parse, pathParam } from '../validate.ts';

const id = identifier;
const text = (min: number, max: number) => z.string().trim().min(min).max(max);

const schemas = {
  create: z.strictObject({
    recordingId: id,
    purpose: text(4, 500),
    caseReference: text(1, 100),
  }),
  decide: z.strictObject({
    tier: z.string().regex(/^[a-z][a-z0-9_]{1,39}$/, 'must be a tier id'),
    decision: z.enum(['approve', 'deny']),
    comment: text(0, 500),
  }).refine((d) => d.decision === 'approve' || d.comment.length >= 2, { message: 'a denial needs a reason', path: ['comment'] }),
  revoke: z.strictObject({ reason: text(2, 500) }),
  review: z.strictObject({ outcome: z.enum(['justified', 'unjustified']), comment: text(2, 500) }),
  breakGlass: z.strictObject({ reason: text(10, 500), caseReference: text(1, 100) }),
  view: z.enum(['mine', 'queue', 'oversight']),
  classify: z
    .strictObject({
      addCategories: z.array(z.string().regex(/^[a-z][a-z0-9_]{1,39}$/, 'must be a category id')).max(10).default([]),
      department: z.string().regex(/^[a-z][a-z0-9_]{1,39}$/, 'must be a department id').optional(),
    })
    .refine((c) => c.addCategories.length > 0 || c.department !== undefined, { message: 'add a category or set the department', path: ['addCategories'] }),
};

export function playbackRoutes(deps: { verifier: TokenVerifier; approvals: ApprovalService; playback: PlaybackService }): Router {
  const { approvals, playback } = deps;
  const router = Router();
  const auth = authenticate(deps.verifier);

  router.get('/api/recordings', auth, async (req, res) => {
    res.json({ recordings: await approvals.recordings(identityOf(req)) });
  });

  router.post('/api/recordings/:id/break-glass', auth, async (req, res) => {
    const body = parse(schemas.breakGlass, req.body, 'break-glass request');
    res.status(201).json(await approvals.breakGlass(identityOf(req), pathParam(req, 'id'), body));
  });

  router.post('/api/recordings/:id/classification', auth, async (req, res) => {
    const body = parse(schemas.classify, req.body, 'classification');
    res.json(await approvals.classify(identityOf(req), pathParam(req, 'id'), body));
  });

  router.get('/api/playback-requests', auth, async (req, res) => {
    const view = parse(schemas.view, req.query['view'] ?? 'mine', 'view');
    res.json({ requests: await approvals.list(identityOf(req), view) });
  });

  router.post('/api/playback-requests', auth, async (req, res) => {
    const body = parse(schemas.create, req.body, 'playback request');
    res.status(201).json(await approvals.request(identityOf(req), body));
  });

  router.get('/api/playback-requests/:id', auth, async (req, res) => {
    res.json(await approvals.view(identityOf(req), pathParam(req, 'id')));
  });

  router.post('/api/playback-requests/:id/decisions', auth, async (req, res) => {
    const body = parse(schemas.decide, req.body, 'decision');
    res.json(await approvals.decide(identityOf(req), pathParam(req, 'id'), body));
  });

  router.post('/api/playback-requests/:id/revoke', auth, async (req, res) => {
    const body = parse(schemas.revoke, req.body, 'revocation');
    res.json(await approvals.revoke(identityOf(req), pathParam(req, 'id'), body.reason));
  });

  router.post('/api/playback-requests/:id/review', auth, async (req, res) => {
    const body = parse(schemas.review, req.body, 'review');
    res.json(await approvals.review(identityOf(req), pathParam(req, 'id'), body));
  });

  router.post('/api/playback-requests/:id/plays', auth, async (req, res) => {
    const { play, cookie } = await playback.start(identityOf(req), pathParam(req, 'id'));
    // Binds the session to this browser: the player page is same-origin, so its <video> and EventSource send it.
    res.cookie(cookie.name, cookie.value, { httpOnly: true, secure: true, sameSite: 'strict', path: cookie.path, maxAge: cookie.maxAgeMs });
    res.status(201).json(play);
  });

  return router;
}
