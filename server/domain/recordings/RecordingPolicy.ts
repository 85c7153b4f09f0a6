/**
 * The recording policy from recordings-config/recording.jsonc, validated.
 */
import { z } from 'zod';
import { loadPolicyFile } from '../../config/policyFile.ts';
import { MEDIA_SOURCES } from '../../protocol/room.ts';
import { MEDIA_CODECS } from '../../media/codecs.ts';

export const RECORDING_CONTAINERS = ['webm', 'matroska'] as const;
export type RecordingContainer = (typeof RECORDING_CONTAINERS)[number];

/** What WebM can hold (the rest needs Matroska). */
const WEBM_CODECS = ['audio/opus', 'video/vp8', 'video/vp9', 'video/av1'];

const codecsSchema = z
  .record(z.string(), z.enum(RECORDING_CONTAINERS))
  .superRefine((codecs, ctx) => {
    const offered = MEDIA_CODECS.map((c) => c.mimeType.toLowerCase());
    for (const [mimeType, container] of Object.entries(codecs)) {
      if (!offered.includes(mimeType.toLowerCase())) {
        ctx.addIssue({ code: 'custom', path: [mimeType], message: `the SFU does not offer ${mimeType} (it offers ${MEDIA_CODECS.map((c) => c.mimeType).join(', ')})` });
      } else if (container === 'webm' && !WEBM_CODECS.includes(mimeType.toLowerCase())) {
        ctx.addIssue({ code: 'custom', path: [mimeType], message: `WebM cannot hold ${mimeType}; use "matroska"` });
      }
    }
    for (const codec of MEDIA_CODECS) {
      if (!Object.keys(codecs).some((k) => k.toLowerCase() === codec.mimeType.toLowerCase())) {
        ctx.addIssue({ code: 'custom', path: [], message: `no container for ${codec.mimeType}, which the SFU offers: every negotiated codec must be recordable` });
      }
    }
  });

export const recordingPolicySchema = z.strictObject({
  segmentSeconds: z.int().min(1).max(60),
  sources: z.array(z.enum(MEDIA_SOURCES)).min(1),
  retentionYears: z.number().min(3, 'must be at least 3 (互联网诊疗监管细则: audio and video at least 3 years)').max(100),
  consent: z.strictObject({
    textVersion: z.string().min(1).max(64),
    text: z.strictObject({ 'zh-CN': z.string().min(10), en: z.string().min(10) }),
  }),
  codecs: codecsSchema,
  keyEncryption: z.strictObject({
    provider: z.literal('local-rsa'),
    activeKeyId: z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 hex digits (the key file name part)').optional(),
  }),
});

export type RecordingPolicy = z.infer<typeof recordingPolicySchema>;

/** The container a track of `mimeType` is segmented into. */
export function containerFor(policy: Pick<RecordingPolicy, 'codecs'>, mimeType: string): RecordingContainer {
  const entry = Object.entries(policy.codecs).find(([k]) => k.toLowerCase() === mimeType.toLowerCase());
  // The schema requires an entry for every codec the SFU offers.
  if (!entry) throw new Error(`recording policy has no container for ${mimeType}`);
  return entry[1];
}

export const RECORDING_POLICY_FILE = 'recording.jsonc';

export function loadRecordingPolicy(dir: string): RecordingPolicy {
  return loadPolicyFile(dir, RECORDING_POLICY_FILE, recordingPolicySchema);
}
