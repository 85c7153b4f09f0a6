/**
 * The composition root: builds every component from the configuration, in
 * dependency order, and registers each one's close in the fixed shutdown
 * sequence. Nothing else constructs components, so the wiring of the whole
 * server reads top to bottom here.
 *
 * Start order: keys → database (+ migrations) → object store → media
 * workers → HTTP/socket edge. If a step fails, what was already started is
 * closed again before the error propagates.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Config } from './config/index.ts';
import { TokenIssuer } from './edge/auth/tokenIssuer.ts';
import { TOKEN_ALGORITHM, TokenVerifier } from './edge/auth/tokenVerifier.ts';
import { createHttpApp } from './edge/http/httpApp.ts';
import type { ReadinessProbe } from './edge/http/routes/health.ts';
import { selfTestHandlers } from './edge/socket/handlers/selfTest.ts';
import { sessionHandlers } from './edge/socket/handlers/session.ts';
import { createSocketServer, type SocketServer } from './edge/socket/socketServer.ts';
import { ShutdownSequence, type ShutdownReport } from './lifecycle/ShutdownSequence.ts';
import { RoomRegistry } from './domain/rooms/RoomRegistry.ts';
import { SelfTestRegistry } from './domain/selftest/SelfTestRegistry.ts';
import { roomHandlers } from './edge/socket/handlers/room.ts';
import { recordingHandlers } from './edge/socket/handlers/recording.ts';
import { RoomBinding } from './edge/socket/RoomBinding.ts';
import { SIGNATURE_ALGORITHM } from './domain/recordings/manifest.ts';
import { loadRecordingPolicy, type RecordingPolicy } from './domain/recordings/RecordingPolicy.ts';
import { loadApprovalPolicy, type ApprovalPolicy } from './domain/approvals/ApprovalPolicy.ts';
import { RecordingArchive } from './domain/recordings/RecordingArchive.ts';
import { RecordingService } from './domain/recordings/RecordingService.ts';
import { RetentionSweeper } from './domain/recordings/RetentionSweeper.ts';
import { SegmentUploader } from './domain/recordings/SegmentUploader.ts';
import { KEY_WRAP_ALGORITHM, LocalRsaKeyService, type KeyEncryptionService } from './pki/KeyEncryptionService.ts';
import { ManifestSigner } from './pki/ManifestSigner.ts';
import { RecordingRepository } from './storage/repositories/RecordingRepository.ts';
import { iceServersFor } from './media/turn.ts';
import { RoomRepository } from './storage/repositories/RoomRepository.ts';
import { mediaNetworkFromConfig, type TransportFactory } from './media/transports.ts';
import { WorkerPool } from './media/WorkerPool.ts';
import { Metrics } from './observability/metrics.ts';
import { loadServerIdentity, type ServerIdentity } from './pki/serverIdentity.ts';
import { publicKeyFingerprint } from './pki/keyFiles.ts';
import { migrate, openDatabase, type Database } from './storage/db/index.ts';
import { openObjectStore, type ObjectStore } from './storage/objects/index.ts';
import { KeyRegistry } from './storage/repositories/KeyRegistry.ts';
import { ServiceUnavailableError } from './errors.ts';
import { AuditCheckpointer, AuditTrail } from './domain/audit/AuditTrail.ts';
import { ApprovalService } from './domain/approvals/ApprovalService.ts';
import { PlaybackService } from './domain/playback/PlaybackService.ts';
import { PlaybackRepository } from './storage/repositories/PlaybackRepository.ts';
import { canonicalJson } from './util/canonicalJson.ts';
import { DirectoryService } from './domain/directory/DirectoryService.ts';
import { seedDemoDirectory } from './domain/directory/demoDirectory.ts';
import { ConsultationService } from './domain/consultations/ConsultationService.ts';
import { ConsultationRoomGate } from './domain/consultations/ConsultationRoomGate.ts';
import { PrescriptionService } from './domain/consultations/PrescriptionService.ts';
import { SupervisionDispatcher } from './domain/supervision/SupervisionOutbox.ts';
import { prescriptionHandlers } from './edge/socket/handlers/prescription.ts';
import { readOrCreateSecret } from './pki/keyFiles.ts';
import { maskConfig } from './config/mask.ts';
import { openRedis, type RedisConnection } from './storage/redis/RedisConnection.ts';
import { ClusterStore } from './storage/redis/ClusterStore.ts';
import { ClusterNode } from './domain/cluster/ClusterNode.ts';
import { LocalBus, type ClusterBus } from './domain/cluster/ClusterBus.ts';
import { adapterBus, attachRedisAdapter } from './edge/socket/clusterAdapter.ts';
import { RecordingSeriesRepository } from './storage/repositories/RecordingSeriesRepository.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const VERSION = '0.1.0';

export interface HuizhenServer {
  readonly config: Config;
  /** The URL people open (publicUrl, or https://host:port as bound). */
  readonly url: string;
  readonly port: number;
  readonly identity: ServerIdentity;
  readonly db: Database;
  readonly objectStore: ObjectStore;
  readonly workers: WorkerPool;
  readonly metrics: Metrics;
  readonly tokenIssuer: TokenIssuer | null;
  readonly rooms: RoomRegistry;
  readonly recordings: RecordingService;
  readonly uploader: SegmentUploader;
  readonly retention: RetentionSweeper;
  readonly recordingPolicy: RecordingPolicy;
  /** Validated now; the playback approval flow builds on it. */
  readonly approvalPolicy: ApprovalPolicy;
  readonly kek: KeyEncryptionService;
  readonly manifestSigner: ManifestSigner;
  readonly archive: RecordingArchive;
  /** The hash-chained audit trail (and its signed checkpoints). */
  readonly audit: AuditTrail;
  readonly auditCheckpoints: AuditCheckpointer;
  readonly approvals: ApprovalService;
  readonly playback: PlaybackService;
  readonly directory: DirectoryService;
  readonly consultations: ConsultationService;
  readonly prescriptions: PrescriptionService;
  readonly supervision: SupervisionDispatcher;
  /** Scale-out: this node's membership of the cluster (null on a single node). */
  readonly cluster: ClusterNode | null;
  /** Signaling (diagnostics and tests: e.g. dropping a connection). */
  readonly sockets: SocketServer;
  /** Graceful shutdown in the fixed order. Idempotent. */
  close(): Promise<ShutdownReport>;
}

export interface StartOptions {
  log: Logger;
  /** Overrides the built client's directory (tests). */
  clientDir?: string;
  /** How rooms make participants' transports (default WebRTC; the forwarding benchmark's plain RTP). */
  mediaTransports?: TransportFactory;
}

export async function startHuizhen(config: Config, options: StartOptions): Promise<HuizhenServer> {
  const log = options.log;
  const shutdown = new ShutdownSequence(log);
  try {
    return await build(config, options, shutdown);
  } catch (err) {
    await shutdown.run();
    throw err;
  }
}

async function build(config: Config, options: StartOptions, shutdown: ShutdownSequence): Promise<HuizhenServer> {
  const log = options.log;
  const metrics = new Metrics();

  // 1. Keys and policy: TLS, token signing, recording KEKs and manifest
  // signing (generated on first development start), the recording policy.
  const identity = loadServerIdentity(config);
  for (const file of identity.generatedFiles) log.info({ file }, 'generated development key material');
  const policyDir = config.recordings.policyDir ?? path.join(ROOT, 'recordings-config');
  const recordingPolicy = loadRecordingPolicy(policyDir);
  const approvalPolicy = loadApprovalPolicy(policyDir);
  const recordingKeyDir = config.recordings.keyDir ?? path.join(config.dataDir, 'keys');
  const generateKeys = config.env === 'development' && !config.recordings.keyDir;
  // The active key: HUIZHEN_RECORDING_KEK_ID (an operator's override, e.g.
  // during an urgent rotation), else the policy's activeKeyId, else the newest.
  const activeKeyId = config.recordings.activeKekId ?? recordingPolicy.keyEncryption.activeKeyId;
  const kek = LocalRsaKeyService.load(recordingKeyDir, {
    generate: generateKeys,
    ...(activeKeyId ? { activeKeyId } : {}),
  });
  const manifestSigner = ManifestSigner.load(recordingKeyDir, { generate: generateKeys });

  // 2. Database and schema.
  const db = await openDatabase(config, log);
  shutdown.register('close-database', 'database', () => db.close());
  const migrations = await migrate(db);
  log.info({ kind: db.kind, applied: migrations.applied, upToDate: migrations.alreadyApplied }, 'database ready');
  const audit = new AuditTrail({ db, log, onFailure: () => metrics.auditFailures.inc() });
  shutdown.register('flush-audit', 'audit-trail', () => audit.flush());
  const keyRegistry = new KeyRegistry(db);
  const keys = [
    { keyId: identity.tokens.keyId, purpose: 'token-signing' as const, algorithm: TOKEN_ALGORITHM, publicKeyPem: identity.tokens.verifyKeyPem },
    ...kek.publicKeys().map((k) => ({ keyId: k.keyId, purpose: 'recording-kek' as const, algorithm: KEY_WRAP_ALGORITHM, publicKeyPem: k.publicKeyPem })),
    { keyId: manifestSigner.keyId, purpose: 'manifest-signing' as const, algorithm: SIGNATURE_ALGORITHM, publicKeyPem: manifestSigner.publicKeyPem },
  ];
  for (const key of keys) {
    if (await keyRegistry.register(key)) {
      await audit.append({ action: 'key.registered', actor: 'system', subject: `key:${key.keyId}`, details: { purpose: key.purpose, algorithm: key.algorithm } });
    }
  }
  // Per node: in a cluster each node compares its configuration with its own last start.
  await auditConfiguration(audit, config.cluster.redisUrl ? config.cluster.nodeId : null, {
    config: maskConfig(config),
    recordingPolicy,
    approvalPolicy,
    activeKekId: kek.activeKeyId,
  });

  // 3. Object store (embedded S3 server when none is configured).
  const objects = await openObjectStore(config);
  shutdown.register('close-object-store', 'object-store', async () => {
    await objects.store.close();
    await objects.embedded?.close();
  });
  try {
    await objects.store.ensureBucket();
  } catch (err) {
    // An external store may come back; /readyz reports it meanwhile.
    if (objects.embedded) throw err;
    log.warn({ err: { message: (err as Error).message } }, 'object store unreachable at start; continuing');
  }

  // Scale-out (cluster.redisUrl): Redis for leases, load reports and events.
  let redis: RedisConnection | null = null;
  let cluster: ClusterNode | null = null;
  let clusterStore: ClusterStore | null = null;
  const leaseMs = config.cluster.leaseSeconds * 1000;
  if (config.cluster.redisUrl) {
    redis = await openRedis(config.cluster.redisUrl, log);
    const connection = redis;
    // After the cluster node (stop-media) has released its leases and removed its report.
    shutdown.register('close-object-store', 'redis', () => connection.close());
    clusterStore = new ClusterStore(redis.command);
  }

  // Recording storage: sealed segments spool locally and upload as they are
  // sealed; what a previous run left (a crash) is recovered before anything new.
  const uploader = new SegmentUploader({
    store: objects.store,
    spoolDir: config.recordings.spoolDir ?? path.join(config.dataDir, 'spool'),
    log,
    objectLock: await objects.store.objectLockEnabled(),
  });
  shutdown.register('flush-uploads', 'segment-uploads', async () => {
    const drained = await uploader.drainAll(10_000);
    if (!drained) log.warn({ pending: uploader.pending }, 'uploads left spooled for the next start');
    uploader.close();
  }, 15_000);
  metrics.registerUploadSource(uploader);
  const recordings = new RecordingService({
    repository: new RecordingRepository(db),
    uploader,
    kek,
    signer: manifestSigner,
    policy: recordingPolicy,
    workDir: config.recordings.workDir ?? defaultWorkDir(config.dataDir),
    log,
    audit,
    categories: Object.keys(approvalPolicy.categories),
    ...(clusterStore
      ? {
          cluster: {
            nodeId: config.cluster.nodeId,
            series: new RecordingSeriesRepository(db),
            store: objects.store,
            // Bound below, once the cluster node exists (it is called only after start).
            nodeAlive: (nodeId: string) => cluster!.nodeAlive(nodeId),
            roomHosted: (roomId: string) => cluster!.roomHosted(roomId),
            orphanGraceMs: 3 * leaseMs,
          },
        }
      : {}),
  });
  const recovered = await recordings.recover();
  if (recovered.interrupted.length > 0) log.warn({ recordings: recovered.interrupted }, 'finalising recordings interrupted by the last stop');
  shutdown.register('end-rooms', 'recordings', () => recordings.closeAll(), 30_000);
  const sweeper = new RetentionSweeper({ repository: new RecordingRepository(db), store: objects.store, log, audit });
  const sweepTimer = setInterval(() => {
    sweeper.sweep().catch((err: unknown) => log.error({ err: { message: (err as Error).message } }, 'retention sweep failed'));
  }, config.recordings.retentionSweepHours * 3600 * 1000);
  sweepTimer.unref();
  shutdown.register('stop-accepting', 'retention-sweep', () => clearInterval(sweepTimer));

  // Playback approval and playback; the audit trail's signed checkpoints.
  const archive = new RecordingArchive({
    store: objects.store,
    repository: new RecordingRepository(db),
    kek,
    manifestKey: (keyId) => keyRegistry.publicKey(keyId, 'manifest-signing'),
  });
  const approvals = new ApprovalService({ db, repository: new PlaybackRepository(db), audit, policy: approvalPolicy, signer: manifestSigner, log });
  const playback = new PlaybackService({
    approvals,
    archive,
    audit,
    cacheDir: path.join(config.dataDir, 'playback-cache'),
    workDir: `${config.recordings.workDir ?? defaultWorkDir(config.dataDir)}-playback`,
    log,
    // Behind the load balancer a play session's ranges must come back to this node.
    ...(config.cluster.redisUrl && config.cluster.nodeUrl ? { pathPrefix: new URL(config.cluster.nodeUrl).pathname.replace(/\/+$/, '') } : {}),
  });
  shutdown.register('close-connections', 'playback-sessions', () => playback.close());
  const approvalTimer = setInterval(() => {
    approvals.sweep().catch((err: unknown) => log.error({ err: { message: (err as Error).message } }, 'playback request expiry sweep failed'));
  }, 60_000);
  approvalTimer.unref();
  shutdown.register('stop-accepting', 'approval-expiry', () => clearInterval(approvalTimer));
  const auditCheckpoints = new AuditCheckpointer({ trail: audit, store: objects.store, signer: manifestSigner, log });
  const checkpointTimer = setInterval(() => void auditCheckpoints.checkpoint(), config.audit.checkpointSeconds * 1000);
  checkpointTimer.unref();
  shutdown.register('stop-accepting', 'audit-checkpoint-timer', () => clearInterval(checkpointTimer));
  shutdown.register('flush-audit', 'audit-checkpoint', async () => {
    await audit.flush();
    await auditCheckpoints.checkpoint();
  });

  // The directory, consultations and the supervision outbox.
  let removeFromRooms: (userId: string) => Promise<void> = async () => undefined;
  const directory = new DirectoryService({
    db,
    kek,
    audit,
    idSalt: readOrCreateSecret(recordingKeyDir, 'id-document-hmac.key'),
    onSuspended: (practitionerId) => removeFromRooms(practitionerId),
  });
  if (config.env === 'development' && config.consultations.seedDemoDirectory && (await seedDemoDirectory(directory))) {
    log.info('created the demonstration directory (development)');
  }
  let closeRoom: (roomId: string) => void = () => undefined;
  const consultations = new ConsultationService({
    db,
    directory,
    kek,
    store: objects.store,
    audit,
    log,
    recordRetentionYears: config.consultations.recordRetentionYears,
    onRoomClosed: (roomId) => closeRoom(roomId),
  });
  const prescriptions = new PrescriptionService({ db, consultations: consultations.repository, directory, audit });
  const roomGate = new ConsultationRoomGate({
    consultations: consultations.repository,
    directory,
    audit,
    adHoc: config.rooms.adHoc ?? (config.env === 'production' ? 'off' : 'open'),
  });
  const supervision = new SupervisionDispatcher({
    db,
    config: {
      endpoint: config.supervision.endpoint ?? null,
      maxAttempts: config.supervision.maxAttempts,
      retryBaseMs: config.supervision.retryBaseSeconds * 1000,
      timeoutMs: config.supervision.timeoutSeconds * 1000,
    },
    signer: manifestSigner,
    audit,
    log,
  });
  supervision.start(config.supervision.pollSeconds * 1000);
  metrics.registerOutboxSource(supervision.repository);
  shutdown.register('stop-accepting', 'supervision-dispatcher', () => supervision.close());

  // 4. Media workers.
  const workers = await WorkerPool.create({
    size: config.media.workers,
    logLevel: config.media.workerLogLevel,
    log,
    onWorkerDeath: () => metrics.workerDeaths.inc(),
  });
  shutdown.register('stop-accepting', 'media-expect-exit', () => workers.expectExit());
  shutdown.register('stop-media', 'worker-pool', () => workers.close());
  metrics.registerWorkerSource(workers);

  if (redis && clusterStore) {
    cluster = new ClusterNode({
      nodeId: config.cluster.nodeId,
      leaseMs,
      store: clusterStore,
      redis,
      log,
      sampleWorkers: async () => {
        const samples = await workers.sampleUsage();
        return { workers: workers.liveWorkerCount(), cpuMs: samples.reduce((n, s) => n + s.userCpuMs + s.systemCpuMs, 0) };
      },
      onTick: async () => {
        await recordings.sweepOrphans();
      },
    });
    const node = cluster;
    // Draining first: no new rooms come here while this node's rooms move away.
    shutdown.register('stop-accepting', 'cluster-drain', () => node.drain());
    shutdown.register('stop-media', 'cluster-node', () => node.close());
  }

  // 5. Edge: HTTPS, REST, socket.io.
  const verifier = new TokenVerifier({
    verifyKeyPem: identity.tokens.verifyKeyPem,
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    clockToleranceSeconds: config.auth.clockToleranceSeconds,
  });
  const tokenIssuer = identity.tokens.signingKeyPem
    ? new TokenIssuer({
        signingKeyPem: identity.tokens.signingKeyPem,
        keyId: identity.tokens.keyId,
        issuer: config.auth.issuer,
        audience: config.auth.audience,
      })
    : null;

  // The development login mints any identity, so it only ever signs with the
  // generated development key: never with a key the hospital configured.
  const devTokensEnabled = config.env === 'development' && identity.tokens.generated && tokenIssuer !== null;
  if (devTokensEnabled && !isLoopback(config.http.host)) {
    log.warn({ host: config.http.host }, 'development login is reachable from the network: anyone who reaches this server can sign in as anyone');
  }

  const probes: ReadinessProbe[] = [
    {
      name: 'database',
      check: () =>
        db.ping().catch((err: unknown) => {
          throw new ServiceUnavailableError('database is unreachable', { cause: err });
        }),
    },
    { name: 'objectStore', check: () => objects.store.ping() },
    {
      name: 'mediaWorkers',
      check: async () => {
        const live = workers.liveWorkerCount();
        if (live === 0) throw new ServiceUnavailableError('no live mediasoup worker');
        return { live, configured: workers.size };
      },
    },
  ];

  const app = createHttpApp({
    log,
    metrics,
    verifier,
    health: { probes, isShuttingDown: () => shutdown.started, version: VERSION, startedAt: new Date(), log },
    metricsToken: config.metrics.token ?? null,
    bodyLimitBytes: config.http.bodyLimitBytes,
    devTokens: devTokensEnabled ? { issuer: tokenIssuer, ttlSeconds: config.auth.tokenTtlSeconds } : null,
    clientDir: options.clientDir ?? path.join(ROOT, 'client', 'dist'),
    approvals,
    playback,
    consultations: {
      directory,
      consultations,
      prescriptions,
      maxDocumentBytes: config.consultations.maxDocumentMegabytes * 1024 * 1024,
      tokenIssuer,
      visitTokenTtlSeconds: config.auth.tokenTtlSeconds,
    },
  });

  const httpsServer = https.createServer(
    {
      cert: identity.tls.certificatePem,
      key: identity.tls.privateKeyPem,
      minVersion: 'TLSv1.2',
    },
    app,
  );
  httpsServer.on('clientError', (err, socket) => {
    log.debug({ err: { message: err.message } }, 'TLS/HTTP client error');
    socket.destroy();
  });

  const network = mediaNetworkFromConfig(config);
  const iceServers = (userId: string) => iceServersFor(config.turn, userId);
  const selfTests = new SelfTestRegistry(workers, network);
  shutdown.register('end-rooms', 'self-tests', () => selfTests.closeAll());
  const rooms = new RoomRegistry({
    pool: workers,
    network,
    repository: new RoomRepository(db),
    iceServers,
    log,
    graceMs: config.rooms.reconnectGraceSeconds * 1000,
    adaptVideoToBandwidth: config.rooms.adaptVideoToBandwidth,
    audit,
    consentText: {
      version: recordingPolicy.consent.textVersion,
      'zh-CN': recordingPolicy.consent.text['zh-CN'],
      en: recordingPolicy.consent.text.en,
    },
    onOpened: (room) => recordings.attach(room),
    ...(cluster ? { placement: cluster, admissions: cluster } : {}),
    ...(options.mediaTransports ? { transportFactory: options.mediaTransports } : {}),
  });
  // A cluster node that shuts down passes its rooms on: their participants
  // continue on other nodes, and so do their recordings.
  shutdown.register('end-rooms', 'consultation-rooms', () => rooms.closeAll(cluster ? 'room_moved' : 'server_shutdown'));
  const sockets: SocketServer = createSocketServer(httpsServer, {
    verifier,
    log,
    metrics,
    handlersFor: (connection) => {
      // One room binding per connection, shared by its room and recording handlers.
      const binding = new RoomBinding(connection.socket);
      return {
        ...sessionHandlers(connection, verifier),
        ...selfTestHandlers(connection, selfTests, iceServers),
        ...roomHandlers(connection, rooms, binding, roomGate),
        ...prescriptionHandlers(connection, prescriptions, binding),
        ...recordingHandlers(recordings, binding, connection.socket.data.identity),
      };
    },
  });
  const removeSuspended = async (userId: string) => {
    try {
      for (const roomId of await consultations.repository.openRoomsOf(userId)) {
        const removed = rooms.get(roomId)?.removeUser(userId, 'suspended') ?? 0;
        if (removed > 0) log.info({ roomId, removed }, 'suspended practitioner removed from the room');
      }
    } catch (err) {
      log.error({ err: { message: (err as Error).message } }, 'could not remove a suspended practitioner from live rooms');
    }
  };
  // Notices for whichever node holds what they are about.
  const bus: ClusterBus = redis ? adapterBus(attachRedisAdapter(sockets.io, redis), log) : new LocalBus();
  bus.subscribe((notice) => {
    switch (notice.kind) {
      case 'room.close':
        rooms.get(notice.roomId)?.close(notice.reason);
        return;
      case 'playback.grant_ended':
        playback.endGrant(notice.requestId, notice.status);
        return;
      case 'practitioner.suspended':
        void removeSuspended(notice.userId);
        return;
      default: {
        const unreachable: never = notice;
        log.warn({ notice: unreachable }, 'unknown cluster notice');
      }
    }
  });
  closeRoom = (roomId) => bus.publish({ kind: 'room.close', roomId, reason: 'visit_ended' });
  // A suspension takes effect in live rooms at once, on every node: the rooms
  // of the open consultations the practitioner takes part in.
  removeFromRooms = async (userId) => bus.publish({ kind: 'practitioner.suspended', userId });
  approvals.events.on('ended', (requestId, status) => {
    if (redis) bus.publish({ kind: 'playback.grant_ended', requestId, status });
  });

  // Stop accepting connections first; existing ones stay until the rooms
  // have told their participants, then they are closed.
  let listenerClosed: Promise<void> = Promise.resolve();
  shutdown.register('stop-accepting', 'https-listener', () => {
    listenerClosed = new Promise<void>((resolve) => httpsServer.close(() => resolve()));
  });
  shutdown.register('close-connections', 'signaling-and-http', () => closeConnections(httpsServer, sockets, listenerClosed));
  await new Promise<void>((resolve, reject) => {
    httpsServer.once('error', reject);
    httpsServer.listen(config.http.port, config.http.host, () => {
      httpsServer.off('error', reject);
      resolve();
    });
  });

  const port = (httpsServer.address() as AddressInfo).port;
  const url = config.http.publicUrl ?? `https://${urlHost(config.http.host)}:${port}`;
  log.info({ url, publicKeyFingerprint: publicKeyFingerprint(identity.tokens.verifyKeyPem).slice(0, 16) }, 'huizhen listening');
  // Scale-out: reachable now, so this node reports itself and takes rooms.
  await cluster?.start(rooms, config.cluster.nodeUrl ?? `https://${urlHost(config.http.host)}:${port}`);

  return {
    config,
    url,
    port,
    identity,
    db,
    objectStore: objects.store,
    workers,
    metrics,
    tokenIssuer,
    rooms,
    sockets,
    recordings,
    uploader,
    retention: sweeper,
    recordingPolicy,
    approvalPolicy,
    kek,
    manifestSigner,
    archive,
    audit,
    auditCheckpoints,
    approvals,
    playback,
    directory,
    consultations,
    prescriptions,
    supervision,
    cluster,
    close: () => shutdown.run(),
  };
}

/**
 * The configuration this start runs with goes into the audit trail (masked:
 * no secrets), with a hash per part; when a part differs from the last
 * start, a `config.changed` entry names which.
 */
async function auditConfiguration(audit: AuditTrail, nodeId: string | null, parts: Record<string, unknown>): Promise<void> {
  const hashes: Record<string, string> = {};
  for (const [name, value] of Object.entries(parts)) hashes[name] = crypto.createHash('sha256').update(canonicalJson(value)).digest('hex');
  const last = await audit.repository.lastOf('config.loaded', nodeId ? { node: nodeId } : undefined);
  const before = (last?.details['hashes'] ?? {}) as Record<string, string>;
  const changed = last ? Object.keys(hashes).filter((k) => before[k] !== hashes[k]) : [];
  if (changed.length > 0) {
    await audit.append({ action: 'config.changed', actor: 'system', subject: 'config', details: { changed, previousEntry: last!.seq } });
  }
  await audit.append({ action: 'config.loaded', actor: 'system', subject: 'config', details: { hashes, version: VERSION, ...(nodeId ? { node: nodeId } : {}) } });
}

/** Tells signaling clients why, disconnects them, and lets running requests finish briefly. */
async function closeConnections(server: https.Server, sockets: SocketServer, listenerClosed: Promise<void>): Promise<void> {
  await sockets.close('server_shutdown');
  server.closeIdleConnections();
  // Requests still running after a grace period are cut.
  const grace = setTimeout(() => server.closeAllConnections(), 5000);
  await listenerClosed;
  clearTimeout(grace);
}

/** Plaintext segments live in RAM where the machine has /dev/shm; never in the repository. */
function defaultWorkDir(dataDir: string): string {
  const tag = crypto.createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
  return fs.existsSync('/dev/shm') ? path.join('/dev/shm', `huizhen-${tag}`) : path.join(dataDir, 'work');
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
