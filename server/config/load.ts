/**
 * Builds the configuration from, in increasing precedence: the defaults in
 * schema.ts, an optional JSON file (`HUIZHEN_CONFIG`), the environment, and
 * explicit overrides (tests, CLI). Fails with every problem at once, each
 * naming the setting, where its value came from and what is wrong, and never
 * echoing a secret.
 */
import fs from 'node:fs';
import path from 'node:path';
import { configSchema, type Config, type ConfigInput } from './schema.ts';
import { ENV_VARS, LOADER_ENV_VARS, SECRET_PATHS, TOOLING_ENV_PREFIX, TOOLING_ENV_VARS, type EnvVar } from './envVars.ts';

export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadConfigOptions {
  /** Defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Highest precedence; used by tests and CLIs. */
  overrides?: ConfigInput;
  /** Base for relative paths; defaults to process.cwd(). */
  cwd?: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Tree = { [key: string]: Json };

/** Where a value came from, by dotted path, for error messages. */
type Sources = Map<string, string>;

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const problems: string[] = [];
  const sources: Sources = new Map();
  const input: Tree = {};

  const file = env['HUIZHEN_CONFIG'];
  if (file) {
    const fromFile = readConfigFile(path.resolve(cwd, file), problems);
    if (fromFile) mergeInto(input, fromFile, [], sources, `file ${file}`);
  }

  mergeInto(input, readEnv(env, problems), [], sources, 'env');
  for (const v of ENV_VARS) {
    if (env[v.name] !== undefined) sources.set(v.path.join('.'), `env ${v.name}`);
  }

  if (options.overrides) {
    mergeInto(input, options.overrides as Tree, [], sources, 'overrides');
  }

  const result = configSchema.safeParse(input);
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(describeIssue(issue, input, sources));
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);

  return resolvePaths(result.data, cwd);
}

function readConfigFile(file: string, problems: string[]): Tree | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`HUIZHEN_CONFIG: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      problems.push(`HUIZHEN_CONFIG: ${file} must contain a JSON object`);
      return undefined;
    }
    return parsed as Tree;
  } catch (err) {
    // V8's message quotes the text around the error, which may be a secret:
    // report only where it is.
    const where = /line \d+ column \d+/.exec((err as Error).message)?.[0];
    problems.push(`HUIZHEN_CONFIG: ${file} is not valid JSON${where ? ` (${where})` : ''}`);
    return undefined;
  }
}

function readEnv(env: Record<string, string | undefined>, problems: string[]): Tree {
  const tree: Tree = {};
  const known = new Set<string>([...ENV_VARS.map((v) => v.name), ...LOADER_ENV_VARS, ...TOOLING_ENV_VARS]);

  for (const name of Object.keys(env)) {
    if (name.startsWith('HUIZHEN_') && !known.has(name) && !name.startsWith(TOOLING_ENV_PREFIX)) {
      problems.push(`${name}: unknown setting (see the configuration table in README.md)`);
    }
  }

  for (const v of ENV_VARS) {
    const raw = env[v.name];
    if (raw === undefined || raw === '') continue;
    const value = parseEnvValue(v, raw, problems);
    if (value !== undefined) setPath(tree, v.path, value);
  }
  return tree;
}

function parseEnvValue(v: EnvVar, raw: string, problems: string[]): Json | undefined {
  switch (v.kind) {
    case 'string':
      return raw;
    case 'int':
      if (!/^-?\d+$/.test(raw.trim())) {
        problems.push(`${v.name} (${v.path.join('.')}): expected a whole number, got ${shown(v, raw)}`);
        return undefined;
      }
      return Number(raw.trim());
    case 'number':
      if (!/^-?\d+(\.\d+)?$/.test(raw.trim())) {
        problems.push(`${v.name} (${v.path.join('.')}): expected a number, got ${shown(v, raw)}`);
        return undefined;
      }
      return Number(raw.trim());
    case 'bool': {
      const s = raw.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(s)) return true;
      if (['false', '0', 'no', 'off'].includes(s)) return false;
      problems.push(`${v.name} (${v.path.join('.')}): expected true or false, got ${shown(v, raw)}`);
      return undefined;
    }
    case 'list':
      return raw
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);
    default: {
      const unreachable: never = v.kind;
      throw new Error(`unknown env kind ${String(unreachable)}`);
    }
  }
}

function shown(v: EnvVar, raw: string): string {
  return v.secret ? '(value hidden)' : JSON.stringify(raw.length > 80 ? `${raw.slice(0, 77)}...` : raw);
}

function setPath(tree: Tree, keys: readonly string[], value: Json): void {
  let node = tree;
  keys.slice(0, -1).forEach((key) => {
    const next = node[key];
    if (next === undefined || next === null || typeof next !== 'object' || Array.isArray(next)) {
      node[key] = {};
    }
    node = node[key] as Tree;
  });
  node[keys[keys.length - 1] as string] = value;
}

function mergeInto(target: Tree, source: Tree, at: string[], sources: Sources, origin: string): void {
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const here = [...at, key];
    const existing = target[key];
    if (isTree(value) && isTree(existing)) {
      mergeInto(existing, value, here, sources, origin);
    } else {
      target[key] = isTree(value) ? structuredClone(value) : value;
      if (origin !== 'env') markSources(value, here, sources, origin);
    }
  }
}

function markSources(value: Json, at: string[], sources: Sources, origin: string): void {
  if (isTree(value)) {
    for (const [key, v] of Object.entries(value)) markSources(v, [...at, key], sources, origin);
  } else {
    sources.set(at.join('.'), origin);
  }
}

function isTree(value: unknown): value is Tree {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

interface Issue {
  path: PropertyKey[];
  message: string;
  code: string;
  keys?: string[];
}

function describeIssue(issue: Issue, input: Tree, sources: Sources): string {
  const dotted = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    const where = issue.keys.map((k) => (dotted ? `${dotted}.${k}` : k));
    const origin = sources.get(where[0] ?? '') ?? 'config';
    return `${where.join(', ')} (${origin}): unknown setting`;
  }
  const origin = sources.get(dotted) ?? 'default';
  const value = getPath(input, issue.path.map(String));
  // A secret may sit at the path, below it (an object given where a value
  // belongs) or above it (a string given where an object belongs).
  const touchesSecret = SECRET_PATHS.some((p) => p === dotted || p.startsWith(`${dotted}.`) || dotted.startsWith(`${p}.`));
  const valueText =
    value === undefined
      ? ''
      : touchesSecret || (typeof value === 'object' && value !== null)
        ? ' = (value hidden)'
        : ` = ${JSON.stringify(value)}`;
  return `${dotted || '(root)'} (${origin}${valueText}): ${humanise(issue.message)}`;
}

function getPath(tree: Tree, keys: string[]): Json | undefined {
  let node: Json | undefined = tree;
  for (const key of keys) {
    if (!isTree(node)) return undefined;
    node = node[key];
  }
  return node;
}

function humanise(message: string): string {
  return message
    .replace(/^Invalid input: expected (\w+), received (\w+)$/, 'expected a $1, got a $2')
    .replace(/^Too big: expected number to be <=(\d+)$/, 'must be at most $1')
    .replace(/^Too small: expected number to be >=(\d+)$/, 'must be at least $1')
    .replace(/^Invalid option: expected one of (.*)$/, 'must be one of $1');
}

function resolvePaths(cfg: Config, cwd: string): Config {
  const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(cwd, p));
  const recordingsDir = (p: string | undefined) => (p === undefined ? undefined : path.resolve(cwd, p));
  return {
    ...cfg,
    recordings: {
      ...cfg.recordings,
      policyDir: recordingsDir(cfg.recordings.policyDir),
      keyDir: recordingsDir(cfg.recordings.keyDir),
      workDir: recordingsDir(cfg.recordings.workDir),
      spoolDir: recordingsDir(cfg.recordings.spoolDir),
    },
    dataDir: path.resolve(cwd, cfg.dataDir),
    tls: { certFile: abs(cfg.tls.certFile), keyFile: abs(cfg.tls.keyFile) },
    auth: {
      ...cfg.auth,
      publicKeyFile: abs(cfg.auth.publicKeyFile),
      privateKeyFile: abs(cfg.auth.privateKeyFile),
    },
  };
}
