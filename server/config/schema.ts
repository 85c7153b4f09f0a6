/**
 * The configuration schema: every setting, its default and its rule, in one
 * place. `load.ts` fills it from defaults, an optional JSON file and the
 * environment (in that order of precedence); `envVars.ts` names the
 * environment variable of each setting.
 *
 * Unknown keys are rejected everywhere, so a typo fails at boot instead of
 * being silently ignored.
 */
import os from 'node:os';
import { z } from 'zod';

const port = z.int().min(0).max(65535);

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const configSchema = z
  .strictObject({
    /** `production` refuses to start without real keys, certificates, PostgreSQL and S3. */
    env: z.enum(['development', 'production']).default('development'),
    /** Where embedded state lives: PGlite, the embedded object store, generated keys. */
    dataDir: z.string().min(1).default('./data'),

    http: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        /** 0 picks a free port (tests). */
        port: port.default(8443),
        /** The URL people open, when it differs from https://host:port (reverse proxy, DNS name). */
        publicUrl: z.url({ protocol: /^https$/ }).optional(),
        /** Largest JSON request body accepted, in bytes. */
        bodyLimitBytes: z.int().min(1024).max(10 * 1024 * 1024).default(256 * 1024),
      })
      .prefault({}),

    tls: z
      .strictObject({
        /** PEM certificate chain. Development generates one under dataDir when both files are unset. */
        certFile: z.string().min(1).optional(),
        /** PEM private key; must not be readable by group or others. */
        keyFile: z.string().min(1).optional(),
      })
      .prefault({}),

    log: z.strictObject({ level: logLevel.default('info') }).prefault({}),

    auth: z
      .strictObject({
        /** Expected `iss` of every token. */
        issuer: z.string().min(1).default('huizhen'),
        /** Expected `aud` of every token. */
        audience: z.string().min(1).default('huizhen'),
        /** ES256 (P-256) public key that verifies tokens, PEM file. */
        publicKeyFile: z.string().min(1).optional(),
        /** ES256 private key that signs tokens (token CLI, later the login flow), PEM file. */
        privateKeyFile: z.string().min(1).optional(),
        /** Tolerated clock difference for `exp` and `nbf`, in seconds. */
        clockToleranceSeconds: z.int().min(0).max(300).default(30),
        /** Lifetime of tokens this server mints, in seconds. */
        tokenTtlSeconds: z.int().min(60).max(24 * 3600).default(3600),
      })
      .prefault({}),

    database: z
      .strictObject({
        /** postgres://… selects PostgreSQL; unset selects embedded PGlite under dataDir. */
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
          .optional(),
        /** Connection pool size for PostgreSQL. */
        poolSize: z.int().min(1).max(200).default(10),
      })
      .prefault({}),

    objectStore: z
      .strictObject({
        /** S3-compatible endpoint (MinIO, Ceph, a cloud in the hospital's region). Unset: embedded S3 server on loopback. */
        endpoint: z.url({ protocol: /^https?$/ }).optional(),
        region: z.string().min(1).default('us-east-1'),
        bucket: z
          .string()
          .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')
          .default('huizhen'),
        /** Key prefix inside the bucket, e.g. `hospital-a/`. */
        prefix: z
          .string()
          .regex(/^([A-Za-z0-9._-]+\/)*$/, 'must be empty or path segments ending in "/"')
          .default(''),
        accessKeyId: z.string().min(1).optional(),
        secretAccessKey: z.string().min(1).optional(),
        /** Path-style URLs (http://host/bucket/key), needed by MinIO and the embedded server. */
        forcePathStyle: z.boolean().default(true),
        /**
         * When the SDK adds checksums. WHEN_SUPPORTED sends streamed bodies with
         * aws-chunked framing that some S3-protocol servers store verbatim,
         * corrupting objects; see README.
         */
        checksumMode: z.enum(['WHEN_REQUIRED', 'WHEN_SUPPORTED']).default('WHEN_REQUIRED'),
        /** Port of the embedded S3 server (0 picks a free one). */
        embeddedPort: port.default(0),
        /** Timeout for one object-store request, in milliseconds. */
        requestTimeoutMs: z.int().min(100).max(300_000).default(15_000),
      })
      .prefault({}),

    rooms: z
      .strictObject({
        /** How long a participant whose connection dropped keeps its place, in seconds. */
        reconnectGraceSeconds: z.int().min(5).max(600).default(30),
        /**
         * Adapt video to each receiver's estimated bandwidth (layers, and
         * pausing video before audio suffers). Off only on links known to be
         * wide, e.g. a hospital LAN.
         */
        adaptVideoToBandwidth: z.boolean().default(true),
        /**
         * Rooms that belong to no consultation: `off` refuses them, `verified`
         * admits verified practitioners only, `open` admits any valid token.
         * Default: `off` in production, `open` in development.
         */
        adHoc: z.enum(['off', 'verified', 'open']).optional(),
      })
      .prefault({}),

    consultations: z
      .strictObject({
        /** Medical records (documents, opinions) are kept this long, in years (at least 15). */
        recordRetentionYears: z.number().min(15).max(100).default(15),
        /** Largest prior diagnosis document accepted, in MiB. */
        maxDocumentMegabytes: z.number().min(1).max(200).default(20),
        /** Development only: create a demonstration directory (institutions, agreements, verified practitioners) on an empty database. */
        seedDemoDirectory: z.boolean().default(true),
      })
      .prefault({}),

    supervision: z
      .strictObject({
        /** The supervision platform's endpoint for consultation events (https; http only on loopback). Unset: events wait in the outbox. */
        endpoint: z.url().optional(),
        maxAttempts: z.int().min(1).max(100).default(12),
        retryBaseSeconds: z.number().min(0.05).max(3600).default(30),
        timeoutSeconds: z.number().min(1).max(120).default(15),
        pollSeconds: z.number().min(0.05).max(3600).default(10),
      })
      .prefault({}),

    turn: z
      .strictObject({
        /** TURN URLs handed to browsers, e.g. turn:turn.hospital.local:3478?transport=udp. */
        urls: z.array(z.string().regex(/^turns?:[^\s]+$/, 'must be a turn: or turns: URL')).max(8).default([]),
        /** coturn `static-auth-secret`: credentials are derived per user and expire. */
        secret: z.string().min(16, 'must be at least 16 characters').optional(),
        credentialTtlSeconds: z.int().min(300).max(7 * 24 * 3600).default(12 * 3600),
      })
      .prefault({}),

    recordings: z
      .strictObject({
        /** Folder of the recording policy files (recording.jsonc). Default: the repository's recordings-config/. */
        policyDir: z.string().min(1).optional(),
        /** Folder of the key-encryption keys and the manifest-signing key. Default: <dataDir>/keys (generated in development). */
        keyDir: z.string().min(1).optional(),
        /** Key id (16 hex digits) of the KEK new recordings are wrapped with; default the newest key file. */
        activeKekId: z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 hex digits (the key file name part)').optional(),
        /** Where ffmpeg writes plaintext segments for the moment before sealing. Default: RAM (/dev/shm) when present. */
        workDir: z.string().min(1).optional(),
        /** Where sealed segments wait for upload. Default: <dataDir>/spool. */
        spoolDir: z.string().min(1).optional(),
        /** How often expired recordings are destroyed, in hours. */
        retentionSweepHours: z.number().min(0.01).max(24 * 7).default(24),
      })
      .prefault({}),

    audit: z
      .strictObject({
        /** How often the head of the audit chain is signed and written to object storage, in seconds. */
        checkpointSeconds: z.int().min(5).max(24 * 3600).default(300),
      })
      .prefault({}),

    metrics: z
      .strictObject({
        /** When set, GET /metrics requires `Authorization: Bearer <token>` (Prometheus `authorization`). */
        token: z.string().min(16, 'must be at least 16 characters').optional(),
      })
      .prefault({}),

    cluster: z
      .strictObject({
        /**
         * redis://… (or rediss://) turns scale-out on: several nodes behind one
         * address share a room registry, load reports and signaling events on
         * Redis. Unset: one node, exactly as without it.
         */
        redisUrl: z
          .string()
          .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
          .optional(),
        /** This node's id in the cluster, stable across restarts. Default: the host name. */
        nodeId: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'must be letters, digits, - or _ (at most 63)')
          .default(() => defaultNodeId()),
        /**
         * The https URL at which clients reach this node itself (behind a load
         * balancer: e.g. https://consult.hospital/node/n1). Clients are sent
         * there when a room lives on this node. Default: https://host:port as bound.
         */
        nodeUrl: z.url({ protocol: /^https$/ }).optional(),
        /** A room's lease on its node, in seconds: when a node stops renewing it (it died), its rooms move after this long. */
        leaseSeconds: z.int().min(3).max(300).default(10),
      })
      .prefault({}),

    media: z
      .strictObject({
        /** mediasoup worker processes; one per core by default. */
        workers: z
          .int()
          .min(1)
          .max(128)
          .default(Math.max(1, os.availableParallelism())),
        workerLogLevel: z.enum(['debug', 'warn', 'error', 'none']).default('warn'),
        /** Local address WebRTC transports listen on. */
        listenIp: z.union([z.ipv4(), z.ipv6()]).default('127.0.0.1'),
        /** Address put into ICE candidates when clients reach the server through NAT. */
        announcedAddress: z.string().min(1).optional(),
        rtcMinPort: z.int().min(1024).max(65535).default(40000),
        rtcMaxPort: z.int().min(1024).max(65535).default(49999),
      })
      .prefault({}),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.media.rtcMinPort > cfg.media.rtcMaxPort) {
      ctx.addIssue({
        code: 'custom',
        path: ['media', 'rtcMinPort'],
        message: `must not be greater than media.rtcMaxPort (${cfg.media.rtcMaxPort})`,
      });
    }
    if (Boolean(cfg.tls.certFile) !== Boolean(cfg.tls.keyFile)) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', cfg.tls.certFile ? 'keyFile' : 'certFile'],
        message: 'tls.certFile and tls.keyFile must be set together',
      });
    }
    if (cfg.supervision.endpoint) {
      const u = new URL(cfg.supervision.endpoint);
      const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || u.hostname.startsWith('127.');
      if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
        ctx.addIssue({ code: 'custom', path: ['supervision', 'endpoint'], message: 'must be https (plain http only on loopback)' });
      }
    }
    if (cfg.turn.urls.length > 0 && !cfg.turn.secret) {
      ctx.addIssue({ code: 'custom', path: ['turn', 'secret'], message: 'is required when turn.urls is set' });
    }
    if (Boolean(cfg.objectStore.accessKeyId) !== Boolean(cfg.objectStore.secretAccessKey)) {
      ctx.addIssue({
        code: 'custom',
        path: ['objectStore', cfg.objectStore.accessKeyId ? 'secretAccessKey' : 'accessKeyId'],
        message: 'objectStore.accessKeyId and objectStore.secretAccessKey must be set together',
      });
    }
    if (cfg.cluster.redisUrl) {
      // Every node must see the same records and the same objects.
      if (!cfg.database.url) {
        ctx.addIssue({ code: 'custom', path: ['database', 'url'], message: 'is required with cluster.redisUrl (PGlite serves one process; nodes share PostgreSQL)' });
      }
      if (!cfg.objectStore.endpoint) {
        ctx.addIssue({ code: 'custom', path: ['objectStore', 'endpoint'], message: 'is required with cluster.redisUrl (nodes share one object store)' });
      }
      if (cfg.env === 'production' && !cfg.cluster.nodeUrl) {
        ctx.addIssue({ code: 'custom', path: ['cluster', 'nodeUrl'], message: 'is required in production with cluster.redisUrl (where clients reach this node)' });
      }
    }
    if (cfg.env === 'production') {
      // A hospital deployment never runs on generated keys or embedded stores.
      const required: Array<[boolean, (string | number)[], string]> = [
        [!cfg.tls.certFile, ['tls', 'certFile'], 'is required in production'],
        [!cfg.tls.keyFile, ['tls', 'keyFile'], 'is required in production'],
        [!cfg.auth.publicKeyFile, ['auth', 'publicKeyFile'], 'is required in production'],
        [!cfg.database.url, ['database', 'url'], 'is required in production (PostgreSQL)'],
        [!cfg.objectStore.endpoint, ['objectStore', 'endpoint'], 'is required in production (S3/MinIO)'],
        [!cfg.objectStore.accessKeyId, ['objectStore', 'accessKeyId'], 'is required in production'],
        [!cfg.recordings.keyDir, ['recordings', 'keyDir'], 'is required in production (recording KEK and manifest-signing key)'],
      ];
      for (const [missing, path, message] of required) {
        if (missing) ctx.addIssue({ code: 'custom', path, message });
      }
    }
  });

/** The host name as a node id (characters a node id may not have become `-`). */
function defaultNodeId(): string {
  const cleaned = os.hostname().replace(/[^A-Za-z0-9_-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return cleaned || 'node';
}

export type Config = z.output<typeof configSchema>;
/** What a config file may contain: any subset of the settings. */
export type ConfigInput = z.input<typeof configSchema>;
