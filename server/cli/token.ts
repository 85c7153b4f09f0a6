/**
 * `npm run token -- --role <role> --user <id> [--room <id>] [--name <name>] [--dept <department>] [--positions a,b] [--ttl <seconds>]`
 *
 * Mints a short-lived token with the server's signing key (in development
 * the generated one under dataDir/keys) and prints it on stdout, alone, so
 * that it can be captured: TOKEN=$(npm run -s token -- --role host --user dr-li --room r1)
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, loadConfig } from '../config/index.ts';
import { TokenIssuer } from '../edge/auth/tokenIssuer.ts';
import { ROLES } from '../protocol/roles.ts';
import { loadServerIdentity } from '../pki/serverIdentity.ts';

const usage = `Usage: npm run token -- --role <${ROLES.join('|')}> --user <id> [--room <id>] [--name <display name>] [--dept <department>] [--positions <p1,p2>] [--inst <institution>] [--ttl <seconds>]`;

const argsSchema = z.object({
  role: z.enum(ROLES, { error: `--role must be one of ${ROLES.join(', ')}` }),
  user: z.string({ error: '--user is required' }).regex(/^[A-Za-z0-9._:@-]{1,128}$/, '--user must be an identifier'),
  room: z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, '--room must be an identifier').optional(),
  name: z.string().min(1).max(100).optional(),
  dept: z.string().regex(/^[a-z][a-z0-9_]{1,39}$/, '--dept must be lower-case letters, digits and _').optional(),
  positions: z
    .string()
    .transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[a-z][a-z0-9_]{1,39}$/, '--positions: lower-case letters, digits and _, comma-separated')).max(10))
    .optional(),
  inst: z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, '--inst must be an institution id').optional(),
  ttl: z.coerce.number().int().min(60).max(24 * 3600).optional(),
});

function fail(message: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}

let values: Record<string, string | undefined>;
try {
  values = parseArgs({
    options: {
      role: { type: 'string' },
      user: { type: 'string' },
      room: { type: 'string' },
      name: { type: 'string' },
      dept: { type: 'string' },
      positions: { type: 'string' },
      inst: { type: 'string' },
      ttl: { type: 'string' },
    },
    strict: true,
  }).values;
} catch (err) {
  fail((err as Error).message);
}

const parsed = argsSchema.safeParse(values);
if (!parsed.success) fail(parsed.error.issues.map((i) => i.message).join('\n'));

try {
  const config = loadConfig();
  const identity = loadServerIdentity(config);
  if (!identity.tokens.signingKeyPem) {
    fail('No token-signing key is configured (auth.privateKeyFile); this server can only verify tokens.');
  }
  const issuer = new TokenIssuer({
    signingKeyPem: identity.tokens.signingKeyPem,
    keyId: identity.tokens.keyId,
    issuer: config.auth.issuer,
    audience: config.auth.audience,
  });
  const { role, user, room, name, dept, positions, inst, ttl } = parsed.data;
  const issued = issuer.issue({
    role,
    userId: user,
    ...(room ? { roomId: room } : {}),
    ...(name ? { displayName: name } : {}),
    ...(dept ? { department: dept } : {}),
    ...(positions ? { positions } : {}),
    ...(inst ? { institutionId: inst } : {}),
    ttlSeconds: ttl ?? config.auth.tokenTtlSeconds,
  });
  process.stdout.write(`${issued.token}\n`);
  process.stderr.write(`token for ${user} (${role}) expires ${new Date(issued.expiresAt * 1000).toISOString()}\n`);
} catch (err) {
  if (err instanceof ConfigError) fail(err.message);
  fail(`Cannot mint a token: ${(err as Error).message}`);
}
