/**
 * The playback approval policy from recordings-config/approval.jsonc,
 * validated: who may ask to play a recording back, the tiers that must
 * approve in order (with extra tiers for sensitive categories), how long a
 * grant lasts and how often it plays, and who may break the glass.
 *
 * Approvers are identified by a position (for example `department_head`)
 * that the hospital's directory puts in the staff member's token, plus their
 * department when a tier must be approved from the recording's own
 * department. A request records the tiers it needs when it is made, so a
 * later policy change never changes a request already under way.
 */
import { z } from 'zod';
import { loadPolicyFile } from '../../config/policyFile.ts';
import { BACK_OFFICE_ROLES } from '../../protocol/roles.ts';

export const APPROVAL_POLICY_FILE = 'approval.jsonc';

const identifier = z.string().regex(/^[a-z][a-z0-9_]{1,39}$/, 'must be lower-case letters, digits and _ (2–40 characters)');
const label = z.strictObject({ 'zh-CN': z.string().min(1).max(60), en: z.string().min(1).max(80) });

const tierSchema = z.strictObject({
  id: identifier,
  label,
  /** The position an approver of this tier must hold. */
  position: identifier,
  /** The approver must belong to the recording's department. */
  sameDepartment: z.boolean(),
  /** When present, the tier applies only to recordings in these categories. */
  onlyForCategories: z.array(identifier).min(1).optional(),
});

export const approvalPolicySchema = z
  .strictObject({
    requesterRoles: z.array(z.enum(BACK_OFFICE_ROLES)).min(1),
    categories: z.record(identifier, label),
    tiers: z.array(tierSchema).min(1).max(6),
    pendingRequestExpiryHours: z.number().min(1).max(24 * 30),
    grant: z.strictObject({
      hours: z.number().min(0.25).max(24 * 14),
      maxPlays: z.int().min(1).max(100),
    }),
    /**
     * A play session (one start of the player) ends after `idleMinutes`
     * without a media request, and at the latest after the recording's
     * duration × `lifetimeFactor` + `lifetimeSlackMinutes` (never after the
     * grant). Applies to sessions opened after a change.
     */
    playSession: z
      .strictObject({
        idleMinutes: z.number().min(0.5).max(120).default(10),
        lifetimeFactor: z.number().min(1).max(10).default(2),
        lifetimeSlackMinutes: z.number().min(0).max(240).default(15),
      })
      .prefault({}),
    breakGlass: z.strictObject({
      position: identifier,
      hours: z.number().min(0.25).max(24),
      reviewByTier: identifier,
      reviewWithinHours: z.number().min(1).max(24 * 30),
    }),
  })
  .superRefine((policy, ctx) => {
    const ids = new Set<string>();
    policy.tiers.forEach((tier, i) => {
      if (ids.has(tier.id)) ctx.addIssue({ code: 'custom', path: ['tiers', i, 'id'], message: `tier ${tier.id} is listed twice` });
      ids.add(tier.id);
      for (const category of tier.onlyForCategories ?? []) {
        if (!(category in policy.categories)) {
          ctx.addIssue({ code: 'custom', path: ['tiers', i, 'onlyForCategories'], message: `unknown category ${category} (declare it under "categories")` });
        }
      }
    });
    if (!policy.tiers.some((t) => !t.onlyForCategories)) {
      ctx.addIssue({ code: 'custom', path: ['tiers'], message: 'at least one tier must apply to every recording' });
    }
    const review = policy.tiers.find((t) => t.id === policy.breakGlass.reviewByTier);
    if (!review) {
      ctx.addIssue({ code: 'custom', path: ['breakGlass', 'reviewByTier'], message: `no tier ${policy.breakGlass.reviewByTier}` });
    } else if (review.onlyForCategories) {
      ctx.addIssue({ code: 'custom', path: ['breakGlass', 'reviewByTier'], message: 'the break-glass review tier must apply to every recording' });
    }
  });

export type ApprovalPolicy = z.infer<typeof approvalPolicySchema>;
export type ApprovalTier = ApprovalPolicy['tiers'][number];

export function loadApprovalPolicy(dir: string): ApprovalPolicy {
  return loadPolicyFile(dir, APPROVAL_POLICY_FILE, approvalPolicySchema);
}

/** The tiers a recording in `categories` needs, in the order they approve. */
export function tiersFor(policy: ApprovalPolicy, categories: readonly string[]): ApprovalTier[] {
  return policy.tiers.filter((t) => !t.onlyForCategories || t.onlyForCategories.some((c) => categories.includes(c)));
}
