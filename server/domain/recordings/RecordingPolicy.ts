/**
 * The recording policy from recordings-config/recording.jsonc, validated.
 * A bad file stops the server start with readable problems, like the rest
 * of the configuration.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseJsonc } from '../../config/jsonc.ts';
import { MEDIA_SOURCES } from '../../protocol/room.ts';

export const recordingPolicySchema = z.strictObject({
  segmentSeconds: z.int().min(1).max(60),
  sources: z.array(z.enum(MEDIA_SOURCES)).min(1),
  retentionYears: z.number().min(3, 'must be at least 3 (互联网诊疗监管细则: audio and video at least 3 years)').max(100),
  consent: z.strictObject({
    textVersion: z.string().min(1).max(64),
    text: z.strictObject({ 'zh-CN': z.string().min(10), en: z.string().min(10) }),
  }),
  keyEncryption: z.strictObject({ provider: z.literal('local-rsa') }),
});

export type RecordingPolicy = z.infer<typeof recordingPolicySchema>;

export class PolicyError extends Error {
  readonly problems: string[];

  constructor(file: string, problems: string[]) {
    super(`Invalid recording policy ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PolicyError';
    this.problems = problems;
  }
}

export const RECORDING_POLICY_FILE = 'recording.jsonc';

export function loadRecordingPolicy(dir: string): RecordingPolicy {
  const file = path.join(dir, RECORDING_POLICY_FILE);
  let raw: unknown;
  try {
    raw = parseJsonc(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PolicyError(file, [(err as NodeJS.ErrnoException).code ? `cannot read (${(err as NodeJS.ErrnoException).code})` : `not valid JSON: ${(err as Error).message}`]);
  }
  const parsed = recordingPolicySchema.safeParse(raw);
  if (!parsed.success) {
    throw new PolicyError(
      file,
      parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`),
    );
  }
  return parsed.data;
}
