/**
 * A copy of the configuration that is safe to log or print: secrets are
 * replaced, and a database URL keeps its host and database but loses its
 * password.
 */
import type { Config } from './schema.ts';
import { SECRET_PATHS } from './envVars.ts';

export const MASK = '***';

export function maskConfig(cfg: Config): Record<string, unknown> {
  const copy = structuredClone(cfg) as unknown as Record<string, unknown>;
  for (const dotted of SECRET_PATHS) {
    const keys = dotted.split('.');
    const last = keys.pop() as string;
    let node: unknown = copy;
    for (const key of keys) node = (node as Record<string, unknown> | undefined)?.[key];
    const holder = node as Record<string, unknown> | undefined;
    const value = holder?.[last];
    if (holder && typeof value === 'string') {
      holder[last] = dotted === 'database.url' || dotted === 'cluster.redisUrl' ? maskUrl(value) : MASK;
    }
  }
  return copy;
}

/** postgres://user:secret@db:5432/huizhen → postgres://user:***@db:5432/huizhen */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = MASK;
    // Query parameters can carry passwords too (e.g. ?password=…).
    for (const key of [...u.searchParams.keys()]) {
      if (/pass|secret|key|token/i.test(key)) u.searchParams.set(key, MASK);
    }
    return u.toString();
  } catch {
    return MASK;
  }
}
