/**
 * The hospital's policy files under recordings-config/ (JSONC, commented
 * for the staff who edit them), read and validated with a zod schema. A bad
 * file stops the server start with problems that name the setting, like the
 * rest of the configuration.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { parseJsonc } from './jsonc.ts';

export class PolicyError extends Error {
  readonly problems: string[];

  constructor(file: string, problems: string[]) {
    super(`Invalid policy file ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PolicyError';
    this.problems = problems;
  }
}

export function loadPolicyFile<S extends z.ZodType>(dir: string, fileName: string, schema: S): z.infer<S> {
  const file = path.join(dir, fileName);
  let raw: unknown;
  try {
    raw = parseJsonc(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PolicyError(file, [code ? `cannot read (${code})` : `not valid JSON: ${(err as Error).message}`]);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new PolicyError(
      file,
      parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`),
    );
  }
  return parsed.data;
}
