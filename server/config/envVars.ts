/**
 * Environment variable of each setting. README's configuration table lists
 * exactly these (a test keeps the two in step).
 *
 * Any other variable starting with `HUIZHEN_` is rejected at boot: a
 * misspelt variable would otherwise be silently ignored.
 */
export type EnvKind = 'string' | 'int' | 'number' | 'bool' | 'list';

export interface EnvVar {
  name: string;
  path: readonly [string, ...string[]];
  kind: EnvKind;
  /** Masked whenever configuration is logged or printed. */
  secret?: boolean;
}

export const ENV_VARS: readonly EnvVar[] = [
  { name: 'HUIZHEN_ENV', path: ['env'], kind: 'string' },
  { name: 'HUIZHEN_DATA_DIR', path: ['dataDir'], kind: 'string' },
  { name: 'HUIZHEN_HOST', path: ['http', 'host'], kind: 'string' },
  { name: 'HUIZHEN_PORT', path: ['http', 'port'], kind: 'int' },
  { name: 'HUIZHEN_PUBLIC_URL', path: ['http', 'publicUrl'], kind: 'string' },
  { name: 'HUIZHEN_BODY_LIMIT_BYTES', path: ['http', 'bodyLimitBytes'], kind: 'int' },
  { name: 'HUIZHEN_TLS_CERT_FILE', path: ['tls', 'certFile'], kind: 'string' },
  { name: 'HUIZHEN_TLS_KEY_FILE', path: ['tls', 'keyFile'], kind: 'string' },
  { name: 'HUIZHEN_LOG_LEVEL', path: ['log', 'level'], kind: 'string' },
  { name: 'HUIZHEN_JWT_ISSUER', path: ['auth', 'issuer'], kind: 'string' },
  { name: 'HUIZHEN_JWT_AUDIENCE', path: ['auth', 'audience'], kind: 'string' },
  { name: 'HUIZHEN_JWT_PUBLIC_KEY_FILE', path: ['auth', 'publicKeyFile'], kind: 'string' },
  { name: 'HUIZHEN_JWT_PRIVATE_KEY_FILE', path: ['auth', 'privateKeyFile'], kind: 'string' },
  { name: 'HUIZHEN_JWT_CLOCK_TOLERANCE_SECONDS', path: ['auth', 'clockToleranceSeconds'], kind: 'int' },
  { name: 'HUIZHEN_TOKEN_TTL_SECONDS', path: ['auth', 'tokenTtlSeconds'], kind: 'int' },
  { name: 'DATABASE_URL', path: ['database', 'url'], kind: 'string', secret: true },
  { name: 'HUIZHEN_DB_POOL_SIZE', path: ['database', 'poolSize'], kind: 'int' },
  { name: 'HUIZHEN_S3_ENDPOINT', path: ['objectStore', 'endpoint'], kind: 'string' },
  { name: 'HUIZHEN_S3_REGION', path: ['objectStore', 'region'], kind: 'string' },
  { name: 'HUIZHEN_S3_BUCKET', path: ['objectStore', 'bucket'], kind: 'string' },
  { name: 'HUIZHEN_S3_PREFIX', path: ['objectStore', 'prefix'], kind: 'string' },
  { name: 'HUIZHEN_S3_ACCESS_KEY_ID', path: ['objectStore', 'accessKeyId'], kind: 'string' },
  { name: 'HUIZHEN_S3_SECRET_ACCESS_KEY', path: ['objectStore', 'secretAccessKey'], kind: 'string', secret: true },
  { name: 'HUIZHEN_S3_FORCE_PATH_STYLE', path: ['objectStore', 'forcePathStyle'], kind: 'bool' },
  { name: 'HUIZHEN_S3_CHECKSUM_MODE', path: ['objectStore', 'checksumMode'], kind: 'string' },
  { name: 'HUIZHEN_S3_EMBEDDED_PORT', path: ['objectStore', 'embeddedPort'], kind: 'int' },
  { name: 'HUIZHEN_S3_REQUEST_TIMEOUT_MS', path: ['objectStore', 'requestTimeoutMs'], kind: 'int' },
  { name: 'HUIZHEN_RECONNECT_GRACE_SECONDS', path: ['rooms', 'reconnectGraceSeconds'], kind: 'int' },
  { name: 'HUIZHEN_ADAPT_VIDEO_TO_BANDWIDTH', path: ['rooms', 'adaptVideoToBandwidth'], kind: 'bool' },
  { name: 'HUIZHEN_TURN_URLS', path: ['turn', 'urls'], kind: 'list' },
  { name: 'HUIZHEN_TURN_SECRET', path: ['turn', 'secret'], kind: 'string', secret: true },
  { name: 'HUIZHEN_TURN_CREDENTIAL_TTL_SECONDS', path: ['turn', 'credentialTtlSeconds'], kind: 'int' },
  { name: 'HUIZHEN_RECORDINGS_CONFIG_DIR', path: ['recordings', 'policyDir'], kind: 'string' },
  { name: 'HUIZHEN_RECORDING_KEY_DIR', path: ['recordings', 'keyDir'], kind: 'string' },
  { name: 'HUIZHEN_RECORDING_KEK_ID', path: ['recordings', 'activeKekId'], kind: 'string' },
  { name: 'HUIZHEN_RECORDING_WORK_DIR', path: ['recordings', 'workDir'], kind: 'string' },
  { name: 'HUIZHEN_RECORDING_SPOOL_DIR', path: ['recordings', 'spoolDir'], kind: 'string' },
  { name: 'HUIZHEN_RETENTION_SWEEP_HOURS', path: ['recordings', 'retentionSweepHours'], kind: 'number' },
  { name: 'HUIZHEN_AUDIT_CHECKPOINT_SECONDS', path: ['audit', 'checkpointSeconds'], kind: 'number' },
  { name: 'HUIZHEN_ADHOC_ROOMS', path: ['rooms', 'adHoc'], kind: 'string' },
  { name: 'HUIZHEN_SUPERVISION_ENDPOINT', path: ['supervision', 'endpoint'], kind: 'string' },
  { name: 'HUIZHEN_SUPERVISION_MAX_ATTEMPTS', path: ['supervision', 'maxAttempts'], kind: 'number' },
  { name: 'HUIZHEN_SUPERVISION_RETRY_BASE_SECONDS', path: ['supervision', 'retryBaseSeconds'], kind: 'number' },
  { name: 'HUIZHEN_SUPERVISION_POLL_SECONDS', path: ['supervision', 'pollSeconds'], kind: 'number' },
  { name: 'HUIZHEN_RECORD_RETENTION_YEARS', path: ['consultations', 'recordRetentionYears'], kind: 'number' },
  { name: 'HUIZHEN_METRICS_TOKEN', path: ['metrics', 'token'], kind: 'string', secret: true },
  { name: 'HUIZHEN_REDIS_URL', path: ['cluster', 'redisUrl'], kind: 'string', secret: true },
  { name: 'HUIZHEN_NODE_ID', path: ['cluster', 'nodeId'], kind: 'string' },
  { name: 'HUIZHEN_NODE_URL', path: ['cluster', 'nodeUrl'], kind: 'string' },
  { name: 'HUIZHEN_CLUSTER_LEASE_SECONDS', path: ['cluster', 'leaseSeconds'], kind: 'int' },
  { name: 'HUIZHEN_MEDIA_WORKERS', path: ['media', 'workers'], kind: 'int' },
  { name: 'HUIZHEN_MEDIA_WORKER_LOG_LEVEL', path: ['media', 'workerLogLevel'], kind: 'string' },
  { name: 'HUIZHEN_MEDIA_LISTEN_IP', path: ['media', 'listenIp'], kind: 'string' },
  { name: 'HUIZHEN_MEDIA_ANNOUNCED_ADDRESS', path: ['media', 'announcedAddress'], kind: 'string' },
  { name: 'HUIZHEN_RTC_MIN_PORT', path: ['media', 'rtcMinPort'], kind: 'int' },
  { name: 'HUIZHEN_RTC_MAX_PORT', path: ['media', 'rtcMaxPort'], kind: 'int' },
];

/** Variables that are not settings but are read by the loader itself. */
export const LOADER_ENV_VARS = ['HUIZHEN_CONFIG'] as const;

/**
 * Variables of Huizhen's scripts and test tooling, not of the server: the
 * loader leaves them alone instead of refusing them as misspelt settings.
 */
export const TOOLING_ENV_VARS = ['HUIZHEN_CACHE_DIR', 'HUIZHEN_IN_NETNS', 'HUIZHEN_CHROMIUM'] as const;
export const TOOLING_ENV_PREFIX = 'HUIZHEN_TEST_';

/** Dotted setting paths whose values are secrets. */
export const SECRET_PATHS: readonly string[] = ENV_VARS.filter((v) => v.secret).map((v) => v.path.join('.'));
