/**
 * Two Huizhen nodes as separate processes on loopback, sharing one
 * PostgreSQL database, one S3-protocol server and one Redis, optionally
 * behind nginx (the load balancer of docker-compose's `cluster` profile).
 * Node n1 generates the development keys; n2 is given the same files, as
 * every node of a deployment is.
 */
import fs from 'node:fs';
import path from 'node:path';
import { TokenIssuer } from '../../server/edge/auth/tokenIssuer.ts';
import { createLogger } from '../../server/observability/logger.ts';
import { publicKeyFingerprint } from '../../server/pki/keyFiles.ts';
import type { Role } from '../../server/protocol/roles.ts';
import { PostgresDatabase, type Database } from '../../server/storage/db/index.ts';
import { EmbeddedS3Server } from '../../server/storage/objects/index.ts';
import type { RecordingArchive } from '../../server/domain/recordings/RecordingArchive.ts';
import { archiveFor } from './archive.ts';
import { startLoadBalancer, type LoadBalancer } from './loadBalancer.ts';
import { sharedPostgres } from './postgres.ts';
import { runNode, type RunningProcess } from './process.ts';
import { startRedis, type RedisServer } from './redis.ts';
import { externalS3Env, tempDir } from './server.ts';
import { freePort } from './ports.ts';

export type NodeId = 'n1' | 'n2';

export interface NodeProcess {
  id: NodeId;
  port: number;
  /** The node's own address (not through the load balancer). */
  directUrl: string;
  proc: RunningProcess | null;
  /** Starts (or restarts) the node; resolves when it serves. */
  start(): Promise<void>;
  /** SIGKILL of the node and everything it started (its process group). */
  kill9(): Promise<void>;
  /** SIGTERM: the ordered shutdown. */
  stop(): Promise<void>;
  /** Everything the node has logged (all its runs). */
  logs(): string;
}

export interface TestCluster {
  redis: RedisServer;
  db: Database;
  nodes: Record<NodeId, NodeProcess>;
  lb: LoadBalancer | null;
  /** Where browsers enter: the load balancer, or n1 without one. */
  entryUrl: string;
  leaseSeconds: number;
  keysDir: string;
  token(claims: { role: Role; userId: string; roomId?: string; displayName?: string }): { token: string; expiresAt: number };
  archive(): RecordingArchive;
  close(): Promise<void>;
}


export async function startCluster(options: { leaseSeconds: number; loadBalancer: boolean }): Promise<TestCluster> {
  const redis = await startRedis();
  const s3 = await EmbeddedS3Server.start({ directory: tempDir(), port: 0, bucket: 'huizhen' });
  const dbUrl = await (await sharedPostgres()).createDatabase('cluster');
  const db = await PostgresDatabase.connect({ url: dbUrl, poolSize: 2, log: createLogger('silent') });
  const root = tempDir('huizhen-cluster-');
  const configFile = path.join(root, 'config.json');
  // Key generation for the demonstration directory costs seconds; the tests use ad-hoc rooms.
  fs.writeFileSync(configFile, JSON.stringify({ consultations: { seedDemoDirectory: false } }));
  const lbPort = options.loadBalancer ? await freePort() : 0;
  const ports: Record<NodeId, number> = { n1: await freePort(), n2: await freePort() };
  const keysDir = path.join(root, 'n1', 'keys');
  const entryUrl = options.loadBalancer ? `https://127.0.0.1:${lbPort}` : `https://127.0.0.1:${ports.n1}`;

  const makeNode = (id: NodeId, index: number): NodeProcess => {
    const dataDir = path.join(root, id);
    let output = '';
    const node: NodeProcess = {
      id,
      port: ports[id],
      directUrl: `https://127.0.0.1:${ports[id]}`,
      proc: null,
      async start() {
        // n2 (and n1 once it exists) run on the keys n1 generated.
        const sharedKeys: Record<string, string> =
          id === 'n1' && !fs.existsSync(keysDir)
            ? {}
            : {
                HUIZHEN_TLS_CERT_FILE: path.join(keysDir, 'tls.crt.pem'),
                HUIZHEN_TLS_KEY_FILE: path.join(keysDir, 'tls.key.pem'),
                HUIZHEN_JWT_PUBLIC_KEY_FILE: path.join(keysDir, 'token-signing.pub.pem'),
                HUIZHEN_JWT_PRIVATE_KEY_FILE: path.join(keysDir, 'token-signing.key.pem'),
                HUIZHEN_RECORDING_KEY_DIR: keysDir,
              };
        const proc = runNode(
          'server/main.ts',
          [],
          {
            HUIZHEN_CONFIG: configFile,
            HUIZHEN_DATA_DIR: dataDir,
            HUIZHEN_PORT: String(ports[id]),
            HUIZHEN_MEDIA_WORKERS: '1',
            HUIZHEN_ADAPT_VIDEO_TO_BANDWIDTH: 'false',
            HUIZHEN_RTC_MIN_PORT: String(40000 + index * 1000),
            HUIZHEN_RTC_MAX_PORT: String(40999 + index * 1000),
            HUIZHEN_RECORDING_WORK_DIR: path.join(dataDir, 'work'),
            DATABASE_URL: dbUrl,
            HUIZHEN_REDIS_URL: redis.url,
            HUIZHEN_NODE_ID: id,
            HUIZHEN_NODE_URL: options.loadBalancer ? `${entryUrl}/node/${id}` : `https://127.0.0.1:${ports[id]}`,
            HUIZHEN_CLUSTER_LEASE_SECONDS: String(options.leaseSeconds),
            ...externalS3Env(s3),
            ...sharedKeys,
          },
          { detached: true },
        );
        node.proc = proc;
        proc.child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
        proc.child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
        await proc.waitFor(/Huizhen is running/, 90_000);
      },
      async kill9() {
        const proc = node.proc;
        if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
        process.kill(-(proc.child.pid as number), 'SIGKILL');
        await proc.exited;
      },
      async stop() {
        const proc = node.proc;
        if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
        proc.child.kill('SIGTERM');
        await proc.exited;
        // Its media workers and recorders went with it; nothing of the group may linger.
        try {
          process.kill(-(proc.child.pid as number), 'SIGKILL');
        } catch {
          // Already gone.
        }
      },
      logs: () => output,
    };
    return node;
  };
  const nodes = { n1: makeNode('n1', 1), n2: makeNode('n2', 2) };
  let lb: LoadBalancer | null = null;
  try {
    await nodes.n1.start();
    await nodes.n2.start();
    if (options.loadBalancer) {
      lb = await startLoadBalancer({
        dir: path.join(root, 'lb'),
        port: lbPort,
        nodes: [`127.0.0.1:${ports.n1}`, `127.0.0.1:${ports.n2}`],
        certFile: path.join(keysDir, 'tls.crt.pem'),
        keyFile: path.join(keysDir, 'tls.key.pem'),
        upstreamCa: path.join(keysDir, 'dev-ca.crt.pem'),
        // nginx checks DNS names only (not IP addresses); the development certificate covers localhost.
        upstreamTlsName: 'localhost',
      });
    }
  } catch (err) {
    for (const n of Object.values(nodes)) await n.kill9().catch(() => undefined);
    await redis.close();
    await s3.close();
    await db.close();
    throw err;
  }

  const verifyKey = fs.readFileSync(path.join(keysDir, 'token-signing.pub.pem'), 'utf8');
  const issuer = new TokenIssuer({
    signingKeyPem: fs.readFileSync(path.join(keysDir, 'token-signing.key.pem'), 'utf8'),
    keyId: publicKeyFingerprint(verifyKey).slice(0, 32),
    issuer: 'huizhen',
    audience: 'huizhen',
  });
  return {
    redis,
    db,
    nodes,
    lb,
    entryUrl,
    leaseSeconds: options.leaseSeconds,
    keysDir,
    token: (claims) => issuer.issue({ ...claims, ttlSeconds: 900 }),
    archive: () => archiveFor(db, s3.endpoint, keysDir),
    async close() {
      if (process.env['HUIZHEN_TEST_DUMP'] && fs.existsSync(path.join(root, 'lb', 'error.log'))) console.log(fs.readFileSync(path.join(root, 'lb', 'error.log'), 'utf8').slice(-6000));
      await lb?.stop();
      for (const n of Object.values(nodes)) await n.stop().catch(() => n.kill9());
      await redis.close();
      await db.close();
      await s3.close();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
