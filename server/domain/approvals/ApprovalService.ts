/**
 * Playback approval: requests, tier-by-tier decisions, grants, revocation,
 * expiry and break-glass access, each change committed together with its
 * audit entry, each decision signed by the server's key.
 *
 * The tiers and grant terms of a request are fixed when it is made (a
 * snapshot of recordings-config/approval.jsonc and its hash), so changing
 * the policy never changes a request already under way or decided.
 */
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Identity } from '../../edge/auth/identity.ts';
import { ForbiddenError, InvalidStateError, NotFoundError, ValidationError } from '../../errors.ts';
import { signCanonical, type Signer } from '../../pki/signatures.ts';
import type { PlaybackRequestView, RecordingSummary } from '../../protocol/playback.ts';
import { isLiveRole } from '../../protocol/roles.ts';
import type { Database, Queryable } from '../../storage/db/Database.ts';
import type { PlaybackRepository, RecordingFacts, StoredDecision, StoredRequest } from '../../storage/repositories/PlaybackRepository.ts';
import { canonicalJson } from '../../util/canonicalJson.ts';
import type { AuditSink } from '../audit/AuditTrail.ts';
import { ApprovalError } from './approvalErrors.ts';
import { tiersFor, type ApprovalPolicy, type ApprovalTier } from './ApprovalPolicy.ts';
import { effectiveState, transition, type RequestState, type TierSnapshot } from './PlaybackRequest.ts';
import { checkMayDecide, holdsTier, separationConflict, type SeparationConflict } from './separationOfDuties.ts';

const HOUR_MS = 3600 * 1000;

/** Who classifies recordings (categories, department): medical records, not the approvers whose tiers that decides. */
const CLASSIFIER_ROLES = ['records_staff'] as const;

export interface ApprovalServiceDeps {
  db: Database;
  repository: PlaybackRepository;
  audit: AuditSink;
  policy: ApprovalPolicy;
  signer: Signer;
  log: Logger;
  clock?: () => Date;
}

export interface ApprovalEvents {
  /** A grant stopped being usable before its time (revoked) or ran out (expired). */
  ended: [requestId: string, status: 'revoked' | 'expired'];
}

export type RequestListView = 'mine' | 'queue' | 'oversight';

function snapshot(tier: ApprovalTier): TierSnapshot {
  return { id: tier.id, label: tier.label, position: tier.position, sameDepartment: tier.sameDepartment };
}

function stateOf(r: StoredRequest, decisions: readonly StoredDecision[]): RequestState {
  switch (r.status) {
    case 'pending':
      return { status: 'pending', nextTier: decisions.length, tierCount: r.tiers.length, expiresAt: r.expiresAt };
    case 'granted':
      return { status: 'granted', grantExpiresAt: r.grantExpiresAt ?? r.createdAt, playsUsed: r.playsUsed, maxPlays: r.maxPlays };
    case 'denied':
    case 'expired':
    case 'revoked':
      return { status: r.status };
    default: {
      const never: never = r.status;
      throw new Error(`unknown status ${String(never)}`);
    }
  }
}

export class ApprovalService {
  readonly events = new EventEmitter<ApprovalEvents>();
  readonly #deps: ApprovalServiceDeps;
  readonly #log: Logger;
  readonly policyHash: string;

  constructor(deps: ApprovalServiceDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'approvals' });
    this.policyHash = crypto.createHash('sha256').update(canonicalJson(deps.policy)).digest('hex');
  }

  get policy(): ApprovalPolicy {
    return this.#deps.policy;
  }

  #now(): Date {
    return (this.#deps.clock ?? (() => new Date()))();
  }

  // --- Recordings ------------------------------------------------------------

  /** Recordings and what can be seen of them without approval. */
  async recordings(identity: Identity): Promise<RecordingSummary[]> {
    this.#requireBackOffice(identity);
    return (await this.#deps.repository.catalog()).map(summary);
  }

  /**
   * Medical records staff classify a recording after the fact: they add
   * sensitive categories (never remove one) and set the department when none
   * is on record (never change one), so that the host's choice at recording
   * start is not the last word. Audited. Requests already made keep the tiers
   * they were made with, as with a policy change; the audit entry lists the
   * open ones so that they can be revoked and asked for again.
   */
  async classify(identity: Identity, recordingId: string, input: { addCategories: readonly string[]; department?: string | undefined }): Promise<RecordingSummary> {
    if (!(CLASSIFIER_ROLES as readonly string[]).includes(identity.role)) throw new ForbiddenError('Only medical records staff classify recordings.');
    const known = Object.keys(this.#deps.policy.categories);
    const unknown = input.addCategories.filter((c) => !known.includes(c));
    if (unknown.length > 0) {
      throw new ValidationError('invalid classification', [{ path: 'addCategories', message: `unknown categories: ${unknown.join(', ')} (known: ${known.join(', ')})` }]);
    }
    const after = await this.#deps.db.transaction(async (tx) => {
      await this.#deps.repository.lockRecording(tx, recordingId);
      const facts = await this.#facts(recordingId, tx);
      if (facts.participants.has(identity.userId)) throw new ApprovalError('SEPARATION_OF_DUTIES', 'you took part in the recorded visit; you cannot classify its recording');
      const added = [...new Set(input.addCategories)].filter((c) => !facts.categories.includes(c)).sort();
      let departmentSet = false;
      if (input.department !== undefined && input.department !== facts.department) {
        if (facts.department !== null) throw new InvalidStateError(`the recording's department is on record (${facts.department}); it is never changed`);
        departmentSet = true;
      }
      if (added.length === 0 && !departmentSet) return facts;
      const categories = [...facts.categories, ...added].sort();
      const department = departmentSet ? input.department! : facts.department;
      await this.#deps.repository.classify(tx, recordingId, { categories, department });
      await this.#deps.audit.append(
        {
          action: 'recording.classified',
          actor: identity.userId,
          actorRole: identity.role,
          subject: `recording:${recordingId}`,
          details: {
            addedCategories: added,
            categories,
            departmentSet: departmentSet ? department : null,
            // Made under the earlier classification; they keep their tiers.
            openRequests: await this.#deps.repository.openOf(recordingId, tx),
          },
        },
        tx,
      );
      return (await this.#deps.repository.recordingFacts(recordingId, tx))!;
    });
    this.#log.info({ recordingId, by: identity.userId }, 'recording classified');
    return summary(after);
  }

  // --- Requests ----------------------------------------------------------------

  async request(identity: Identity, input: { recordingId: string; purpose: string; caseReference: string }): Promise<PlaybackRequestView> {
    const { policy, repository } = this.#deps;
    if (!(policy.requesterRoles as readonly string[]).includes(identity.role)) {
      throw new ForbiddenError(`Only ${policy.requesterRoles.join(', ')} can request playback.`);
    }
    const facts = await this.#facts(input.recordingId);
    const now = this.#now();
    const open = await repository.openFor(input.recordingId, identity.userId, now);
    if (open) throw new InvalidStateError(`you already have an open request (${open.requestId}) for this recording`);
    const tiers = tiersFor(policy, facts.categories).map(snapshot);
    if (tiers.some((t) => t.sameDepartment) && !facts.department) {
      throw new InvalidStateError('the recording has no department on record, so its department tier cannot approve; medical records staff can assign it (POST /api/recordings/:id/classification)');
    }
    const req: StoredRequest = {
      requestId: `pbr-${crypto.randomUUID()}`,
      recordingId: input.recordingId,
      kind: 'approval',
      requesterId: identity.userId,
      requesterRole: identity.role,
      requesterName: identity.displayName,
      purpose: input.purpose,
      caseReference: input.caseReference,
      department: facts.department,
      categories: facts.categories,
      tiers,
      policyHash: this.policyHash,
      grantHours: policy.grant.hours,
      maxPlays: policy.grant.maxPlays,
      status: 'pending',
      createdAt: now,
      expiresAt: new Date(now.getTime() + policy.pendingRequestExpiryHours * HOUR_MS),
      decidedAt: null,
      grantExpiresAt: null,
      playsUsed: 0,
      endedBy: null,
      endReason: null,
      reviewTier: null,
      reviewDueAt: null,
      reviewedBy: null,
      reviewedAt: null,
      reviewOutcome: null,
      reviewComment: null,
      reviewOverdueAt: null,
    };
    await this.#deps.db.transaction(async (tx) => {
      await repository.insert(tx, req);
      await this.#deps.audit.append(
        {
          action: 'playback.requested',
          actor: identity.userId,
          actorRole: identity.role,
          subject: `recording:${req.recordingId}`,
          details: { requestId: req.requestId, purpose: req.purpose, caseReference: req.caseReference, tiers: tiers.map((t) => t.id), policyHash: this.policyHash },
        },
        tx,
      );
    });
    this.#log.info({ requestId: req.requestId, recordingId: req.recordingId, requester: identity.userId }, 'playback requested');
    return this.view(identity, req.requestId);
  }

  /** A decision of one tier; tiers decide in order. */
  async decide(identity: Identity, requestId: string, input: { tier: string; decision: 'approve' | 'deny'; comment: string }): Promise<PlaybackRequestView> {
    await this.#expireIfDue(requestId);
    const result = await this.#deps.db.transaction(async (tx) => {
      const req = await this.#get(requestId, tx, true);
      const tierIndex = req.tiers.findIndex((t) => t.id === input.tier);
      const tier = req.tiers[tierIndex];
      if (!tier) throw new ValidationError(`this request has no tier ${input.tier} (its tiers: ${req.tiers.map((t) => t.id).join(', ')})`);
      const decisions = await this.#deps.repository.decisions(requestId, tx);
      const facts = await this.#facts(req.recordingId, tx);
      checkMayDecide(identity, tier, tierIndex, {
        requesterId: req.requesterId,
        department: req.department,
        participants: facts.participants,
        decidedBy: decisions,
      });
      const now = this.#now();
      const next = transition(
        stateOf(req, decisions),
        input.decision === 'approve'
          ? { type: 'approve', tierIndex, grantExpiresAt: new Date(now.getTime() + req.grantHours * HOUR_MS), maxPlays: req.maxPlays }
          : { type: 'deny', tierIndex },
        now,
      );
      const position = tier.position;
      const body = {
        requestId,
        recordingId: req.recordingId,
        tierIndex,
        tierId: tier.id,
        decision: input.decision,
        approverId: identity.userId,
        approverPosition: position,
        approverDepartment: identity.department,
        comment: input.comment,
        decidedAt: now.toISOString(),
        policyHash: req.policyHash,
      };
      const signature = signCanonical(body, this.#deps.signer);
      await this.#deps.repository.insertDecision(tx, {
        requestId,
        tierIndex,
        tierId: tier.id,
        decision: input.decision,
        approverId: identity.userId,
        approverName: identity.displayName,
        approverPosition: position,
        approverDepartment: identity.department,
        comment: input.comment,
        decidedAt: now,
        signatureKeyId: signature.keyId,
        signature: signature.value,
      });
      await this.#deps.audit.append(
        {
          action: input.decision === 'approve' ? 'playback.approved' : 'playback.denied',
          actor: identity.userId,
          actorRole: identity.role,
          subject: `recording:${req.recordingId}`,
          details: { requestId, tier: tier.id, tierIndex, position, comment: input.comment, signature: signature.value.slice(0, 32), signatureKeyId: signature.keyId },
        },
        tx,
      );
      if (next.status === 'granted') {
        await this.#deps.repository.update(tx, requestId, { status: 'granted', decidedAt: now, grantExpiresAt: next.grantExpiresAt });
        await this.#deps.audit.append(
          {
            action: 'playback.granted',
            actor: 'system',
            subject: `recording:${req.recordingId}`,
            details: { requestId, viewer: req.requesterId, grantExpiresAt: next.grantExpiresAt.toISOString(), maxPlays: next.maxPlays },
          },
          tx,
        );
      } else if (next.status === 'denied') {
        await this.#deps.repository.update(tx, requestId, { status: 'denied', decidedAt: now, endedBy: identity.userId, endReason: input.comment });
      }
      return next.status;
    });
    this.#log.info({ requestId, tier: input.tier, decision: input.decision, approver: identity.userId, status: result }, 'playback request decided');
    return this.view(identity, requestId);
  }

  /**
   * Ends a pending request or a grant at once; a stream in progress stops.
   * The requester may withdraw their own; approvers holding any of its
   * tiers, and institution administrators, may revoke.
   */
  async revoke(identity: Identity, requestId: string, reason: string): Promise<PlaybackRequestView> {
    await this.#expireIfDue(requestId);
    await this.#deps.db.transaction(async (tx) => {
      const req = await this.#get(requestId, tx, true);
      const facts = await this.#deps.repository.recordingFacts(req.recordingId, tx);
      if (!this.#mayRevoke(identity, req, facts?.participants ?? new Set())) {
        throw new ForbiddenError('Only the requester, an approver of this request’s tiers or an administrator who took no part in the recorded visit can revoke it.');
      }
      const decisions = await this.#deps.repository.decisions(requestId, tx);
      transition(stateOf(req, decisions), { type: 'revoke' }, this.#now());
      await this.#deps.repository.update(tx, requestId, { status: 'revoked', endedBy: identity.userId, endReason: reason, decidedAt: req.decidedAt ?? this.#now() });
      await this.#deps.audit.append(
        { action: 'playback.revoked', actor: identity.userId, actorRole: identity.role, subject: `recording:${req.recordingId}`, details: { requestId, reason, was: req.status } },
        tx,
      );
    });
    this.#log.info({ requestId, by: identity.userId }, 'playback request revoked');
    this.events.emit('ended', requestId, 'revoked');
    return this.view(identity, requestId);
  }

  /**
   * Break-glass: the holder of the policy's break-glass position opens a
   * recording at once, with a mandatory reason. The access is flagged in
   * the audit trail and must be reviewed by the policy's review tier.
   */
  async breakGlass(identity: Identity, recordingId: string, input: { reason: string; caseReference: string }): Promise<PlaybackRequestView> {
    const { policy } = this.#deps;
    if (isLiveRole(identity.role) || !identity.positions.includes(policy.breakGlass.position)) {
      throw new ForbiddenError(`Break-glass access is reserved to the ${policy.breakGlass.position} position.`);
    }
    const facts = await this.#facts(recordingId);
    const reviewTier = policy.tiers.find((t) => t.id === policy.breakGlass.reviewByTier);
    if (!reviewTier) throw new Error('break-glass review tier missing from a validated policy');
    const now = this.#now();
    const grantExpiresAt = new Date(now.getTime() + policy.breakGlass.hours * HOUR_MS);
    const req: StoredRequest = {
      requestId: `pbr-${crypto.randomUUID()}`,
      recordingId,
      kind: 'break_glass',
      requesterId: identity.userId,
      requesterRole: identity.role,
      requesterName: identity.displayName,
      purpose: input.reason,
      caseReference: input.caseReference,
      department: facts.department,
      categories: facts.categories,
      tiers: [],
      policyHash: this.policyHash,
      grantHours: policy.breakGlass.hours,
      maxPlays: policy.grant.maxPlays,
      status: 'granted',
      createdAt: now,
      expiresAt: grantExpiresAt,
      decidedAt: now,
      grantExpiresAt,
      playsUsed: 0,
      endedBy: null,
      endReason: null,
      reviewTier: snapshot(reviewTier),
      reviewDueAt: new Date(now.getTime() + policy.breakGlass.reviewWithinHours * HOUR_MS),
      reviewedBy: null,
      reviewedAt: null,
      reviewOutcome: null,
      reviewComment: null,
      reviewOverdueAt: null,
    };
    await this.#deps.db.transaction(async (tx) => {
      // One open break-glass access per person and recording: checked under
      // the recording's row lock, so two at once cannot both pass.
      await this.#deps.repository.lockRecording(tx, recordingId);
      const open = await this.#deps.repository.openBreakGlass(recordingId, identity.userId, now, tx);
      if (open) {
        throw new ApprovalError('BREAK_GLASS_OPEN', `your break-glass access ${open.requestId} to this recording is open until ${open.grantExpiresAt?.toISOString() ?? '?'}`);
      }
      await this.#deps.repository.insert(tx, req);
      await this.#deps.audit.append(
        {
          action: 'playback.break_glass',
          actor: identity.userId,
          actorRole: identity.role,
          subject: `recording:${recordingId}`,
          flagged: true,
          details: {
            requestId: req.requestId,
            reason: input.reason,
            caseReference: input.caseReference,
            position: policy.breakGlass.position,
            grantExpiresAt: grantExpiresAt.toISOString(),
            reviewBy: reviewTier.id,
            reviewDueAt: req.reviewDueAt!.toISOString(),
          },
        },
        tx,
      );
    });
    this.#log.warn({ requestId: req.requestId, recordingId, by: identity.userId }, 'BREAK-GLASS access to a recording');
    return this.view(identity, req.requestId);
  }

  /** The after-the-fact review of a break-glass access by its review tier. */
  async review(identity: Identity, requestId: string, input: { outcome: 'justified' | 'unjustified'; comment: string }): Promise<PlaybackRequestView> {
    await this.#deps.db.transaction(async (tx) => {
      const req = await this.#get(requestId, tx, true);
      if (req.kind !== 'break_glass' || !req.reviewTier) throw new InvalidStateError('only a break-glass access is reviewed');
      if (req.reviewedAt) throw new ApprovalError('REQUEST_DECIDED', 'this break-glass access has already been reviewed');
      const facts = await this.#facts(req.recordingId, tx);
      checkMayDecide(identity, req.reviewTier, 0, { requesterId: req.requesterId, department: req.department, participants: facts.participants, decidedBy: [] });
      const now = this.#now();
      await this.#deps.repository.update(tx, requestId, { reviewedBy: identity.userId, reviewedAt: now, reviewOutcome: input.outcome, reviewComment: input.comment });
      await this.#deps.audit.append(
        {
          action: 'playback.break_glass_reviewed',
          actor: identity.userId,
          actorRole: identity.role,
          subject: `recording:${req.recordingId}`,
          flagged: input.outcome === 'unjustified',
          details: { requestId, outcome: input.outcome, comment: input.comment, late: req.reviewDueAt !== null && now > req.reviewDueAt },
        },
        tx,
      );
    });
    return this.view(identity, requestId);
  }

  // --- Plays ---------------------------------------------------------------------

  /**
   * Whether the caller may start a play of this grant now (their own grant,
   * granted, plays left), without using one: the playable file is prepared
   * before a play is counted. With the recording's length, which bounds the
   * play session (null when no end is on record).
   */
  async checkPlayable(identity: Identity, requestId: string): Promise<{ request: StoredRequest; recordingSeconds: number | null }> {
    await this.#expireIfDue(requestId);
    const req = await this.#get(requestId);
    if (req.requesterId !== identity.userId) throw new ForbiddenError('This grant is for another viewer.');
    transition(stateOf(req, []), { type: 'play' }, this.#now());
    const facts = await this.#deps.repository.recordingFacts(req.recordingId);
    const recordingSeconds = facts?.endedAt ? Math.max(0, (facts.endedAt.getTime() - facts.startedAt.getTime()) / 1000) : null;
    return { request: req, recordingSeconds };
  }

  /** Uses one play of the caller's grant (checked again here); the request as it stands after. */
  async consumePlay(identity: Identity, requestId: string, audit: { sessionId: string }): Promise<StoredRequest> {
    await this.#expireIfDue(requestId);
    return this.#deps.db.transaction(async (tx) => {
      const req = await this.#get(requestId, tx, true);
      if (req.requesterId !== identity.userId) throw new ForbiddenError('This grant is for another viewer.');
      const next = transition(stateOf(req, []), { type: 'play' }, this.#now());
      if (next.status !== 'granted') throw new Error('a play must leave the grant granted');
      await this.#deps.repository.update(tx, requestId, { playsUsed: next.playsUsed });
      await this.#deps.audit.append(
        {
          action: 'playback.play_started',
          actor: identity.userId,
          actorRole: identity.role,
          subject: `recording:${req.recordingId}`,
          flagged: req.kind === 'break_glass',
          details: { requestId, sessionId: audit.sessionId, play: next.playsUsed, maxPlays: next.maxPlays, kind: req.kind },
        },
        tx,
      );
      return { ...req, playsUsed: next.playsUsed };
    });
  }

  /** Throws the grant's coded error unless it allows streaming now (plays are counted at start, not per range). */
  async assertStreamable(requestId: string): Promise<StoredRequest> {
    const req = await this.#get(requestId);
    const state = effectiveState(stateOf(req, []), this.#now());
    switch (state.status) {
      case 'granted':
        return req;
      case 'expired':
        throw new ApprovalError('GRANT_EXPIRED', 'the grant has expired');
      case 'revoked':
        throw new ApprovalError('GRANT_REVOKED', 'the grant was revoked');
      case 'pending':
      case 'denied':
        throw new ApprovalError('GRANT_NOT_ACTIVE', 'playback is not approved');
      default: {
        const never: never = state;
        throw new Error(`unexpected ${String(never)}`);
      }
    }
  }

  // --- Expiry --------------------------------------------------------------------

  /**
   * Marks requests and grants whose time has run out as expired (audited),
   * and flags each break-glass access whose review is overdue (once).
   */
  async sweep(): Promise<{ expired: string[]; overdueReviews: string[] }> {
    const now = this.#now();
    const expired: string[] = [];
    for (const requestId of await this.#deps.repository.due(now)) if (await this.#expireIfDue(requestId)) expired.push(requestId);
    const overdueReviews: string[] = [];
    for (const requestId of await this.#deps.repository.reviewsOverdue(now)) if (await this.#flagReviewOverdue(requestId)) overdueReviews.push(requestId);
    return { expired, overdueReviews };
  }

  /** Expires the grant (or request) now if its time is up; true when it did. A play session calls this when its grant ends. */
  expireIfDue(requestId: string): Promise<boolean> {
    return this.#expireIfDue(requestId);
  }

  async #flagReviewOverdue(requestId: string): Promise<boolean> {
    return this.#deps.db.transaction(async (tx) => {
      const req = await this.#deps.repository.get(requestId, tx, true);
      const now = this.#now();
      if (!req || req.kind !== 'break_glass' || req.reviewedAt || req.reviewOverdueAt || !req.reviewDueAt || req.reviewDueAt > now) return false;
      await this.#deps.repository.update(tx, requestId, { reviewOverdueAt: now });
      await this.#deps.audit.append(
        {
          action: 'playback.break_glass_review_overdue',
          actor: 'system',
          subject: `recording:${req.recordingId}`,
          flagged: true,
          details: { requestId, breakGlassBy: req.requesterId, reviewBy: req.reviewTier?.id ?? null, reviewDueAt: req.reviewDueAt.toISOString() },
        },
        tx,
      );
      this.#log.warn({ requestId, recordingId: req.recordingId }, 'break-glass review overdue');
      return true;
    });
  }

  async #expireIfDue(requestId: string): Promise<boolean> {
    const expired = await this.#deps.db.transaction(async (tx) => {
      const req = await this.#deps.repository.get(requestId, tx, true);
      if (!req || (req.status !== 'pending' && req.status !== 'granted')) return false;
      const now = this.#now();
      if (effectiveState(stateOf(req, []), now).status !== 'expired') return false;
      await this.#deps.repository.update(tx, requestId, { status: 'expired', endReason: req.status === 'pending' ? 'not decided in time' : 'grant window over' });
      await this.#deps.audit.append(
        { action: 'playback.expired', actor: 'system', subject: `recording:${req.recordingId}`, details: { requestId, was: req.status } },
        tx,
      );
      return true;
    });
    if (expired) this.events.emit('ended', requestId, 'expired');
    return expired;
  }

  // --- Views -----------------------------------------------------------------------

  async list(identity: Identity, view: RequestListView): Promise<PlaybackRequestView[]> {
    this.#requireBackOffice(identity);
    const { repository } = this.#deps;
    const rows = view === 'mine' ? await repository.byRequester(identity.userId) : await repository.open();
    const views: PlaybackRequestView[] = [];
    for (const r of rows) {
      const v = await this.#view(identity, r);
      if (view === 'queue' && !v.actions.decideTier && !v.actions.review && !v.actions.blockedReason) continue;
      if (view === 'oversight' && !v.actions.revoke) continue;
      views.push(v);
    }
    return views;
  }

  /** One request, for the requester, the approvers of its tiers, or an administrator. */
  async view(identity: Identity, requestId: string): Promise<PlaybackRequestView> {
    const req = await this.#get(requestId);
    const mayView = req.requesterId === identity.userId || identity.role === 'institution_admin' || this.#approverOf(identity, req);
    if (!mayView) throw new NotFoundError('no such playback request');
    return this.#view(identity, req);
  }

  async #view(identity: Identity, req: StoredRequest): Promise<PlaybackRequestView> {
    const decisions = await this.#deps.repository.decisions(req.requestId);
    const facts = await this.#deps.repository.recordingFacts(req.recordingId);
    const now = this.#now();
    const state = effectiveState(stateOf(req, decisions), now);
    const next = state.status === 'pending' ? req.tiers[state.nextTier] : undefined;
    let decideTier: string | null = null;
    let blocked: SeparationConflict | null = null;
    if (next && holdsTier(identity, next, req.department)) {
      const conflict = separationConflict(identity, decisions.length, {
        requesterId: req.requesterId,
        department: req.department,
        participants: facts?.participants ?? new Set(),
        decidedBy: decisions,
      });
      if (conflict) blocked = conflict;
      else decideTier = next.id;
    }
    const reviewable =
      req.kind === 'break_glass' &&
      req.reviewTier !== null &&
      req.reviewedAt === null &&
      holdsTier(identity, req.reviewTier, req.department) &&
      separationConflict(identity, 0, { requesterId: req.requesterId, department: req.department, participants: facts?.participants ?? new Set(), decidedBy: [] }) === null;
    return {
      requestId: req.requestId,
      recordingId: req.recordingId,
      kind: req.kind,
      status: state.status,
      requester: { userId: req.requesterId, role: req.requesterRole, name: req.requesterName },
      purpose: req.purpose,
      caseReference: req.caseReference,
      department: req.department,
      categories: req.categories,
      createdAt: req.createdAt.toISOString(),
      expiresAt: req.expiresAt.toISOString(),
      decidedAt: req.decidedAt?.toISOString() ?? null,
      tiers: req.tiers.map((t, i) => {
        const d = decisions.find((x) => x.tierIndex === i);
        return {
          ...t,
          decision: d
            ? { decision: d.decision, approverId: d.approverId, approverName: d.approverName, comment: d.comment, decidedAt: d.decidedAt.toISOString(), signatureKeyId: d.signatureKeyId }
            : null,
        };
      }),
      nextTierId: next?.id ?? null,
      grant: req.grantExpiresAt && (req.status === 'granted' || req.playsUsed > 0) ? { expiresAt: req.grantExpiresAt.toISOString(), playsUsed: req.playsUsed, maxPlays: req.maxPlays } : null,
      ended: req.endedBy || req.endReason ? { by: req.endedBy, reason: req.endReason } : null,
      breakGlass:
        req.kind === 'break_glass' && req.reviewTier && req.reviewDueAt
          ? {
              reviewTier: { id: req.reviewTier.id, label: req.reviewTier.label },
              reviewDueAt: req.reviewDueAt.toISOString(),
              review:
                req.reviewedBy && req.reviewedAt && req.reviewOutcome
                  ? { by: req.reviewedBy, at: req.reviewedAt.toISOString(), outcome: req.reviewOutcome, comment: req.reviewComment ?? '' }
                  : null,
            }
          : null,
      recording: facts ? summary(facts) : null,
      actions: {
        decideTier,
        blockedReason: blocked?.message ?? null,
        blocked: blocked?.code ?? null,
        revoke: (state.status === 'pending' || state.status === 'granted') && this.#mayRevoke(identity, req, facts?.participants ?? new Set()),
        review: reviewable,
        play: state.status === 'granted' && req.requesterId === identity.userId && req.playsUsed < req.maxPlays,
      },
    };
  }

  /** Holds one of the request's tiers (or its review tier) for the request's department. */
  #approverOf(identity: Identity, req: StoredRequest): boolean {
    return [...req.tiers, ...(req.reviewTier ? [req.reviewTier] : [])].some((t) => holdsTier(identity, t, req.department));
  }

  /** The requester withdraws their own; an approver of its tiers or an administrator revokes, unless they took part in the recorded visit. */
  #mayRevoke(identity: Identity, req: StoredRequest, participants: ReadonlySet<string>): boolean {
    if (req.requesterId === identity.userId) return true;
    if (participants.has(identity.userId)) return false;
    return identity.role === 'institution_admin' || this.#approverOf(identity, req);
  }

  async #get(requestId: string, db?: Queryable, forUpdate = false): Promise<StoredRequest> {
    const req = await this.#deps.repository.get(requestId, db, forUpdate);
    if (!req) throw new NotFoundError('no such playback request');
    return req;
  }

  async #facts(recordingId: string, db?: Queryable): Promise<RecordingFacts> {
    const facts = await this.#deps.repository.recordingFacts(recordingId, db);
    if (!facts || (facts.status !== 'complete' && facts.status !== 'interrupted')) {
      throw new NotFoundError(facts?.status === 'destroyed' ? 'this recording was destroyed after its retention period' : 'no finalised recording with that id');
    }
    return facts;
  }

  #requireBackOffice(identity: Identity): void {
    if (isLiveRole(identity.role)) throw new ForbiddenError('Recordings are reviewed from back-office accounts only.');
  }
}

function summary(f: RecordingFacts): RecordingSummary {
  return {
    recordingId: f.recordingId,
    roomId: f.roomId,
    status: f.status as RecordingSummary['status'],
    startedAt: f.startedAt.toISOString(),
    endedAt: f.endedAt?.toISOString() ?? null,
    durationSeconds: f.endedAt ? Math.round((f.endedAt.getTime() - f.startedAt.getTime()) / 1000) : null,
    department: f.department,
    categories: f.categories,
    participantRoles: f.participantRoles,
    legalHold: f.legalHold,
    retainUntil: f.retainUntil.toISOString(),
  };
}
