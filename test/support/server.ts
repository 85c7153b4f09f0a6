/**
 * Starting real Huizhen servers for tests (port 0, a temporary data
 * directory, one mediasoup worker) and talking to them over HTTPS and
 * socket.io with the generated development CA trusted.
 */
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { io as ioClient, type Socket } from 'socket.io-client';
import { startHuizhen, type HuizhenServer } from '../../server/app.ts';
import { loadConfig, type ConfigInput } from '../../server/config/index.ts';
import { createLogger, type Logger } from '../../server/observability/logger.ts';
import { PgliteDatabase } from '../../server/storage/db/PgliteDatabase.ts';
import { EMBEDDED_S3_CREDENTIALS, type EmbeddedS3Server } from '../../server/storage/objects/index.ts';
import type { ClientToServerEvents, ServerToClientEvents } from '../../server/protocol/socketEvents.ts';

export function tempDir(prefix = 'huizhen-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Environment that points a Huizhen server at an S3 server started by the test. */
export function externalS3Env(s3: EmbeddedS3Server, extra: Record<string, string> = {}): Record<string, string> {
  return {
    HUIZHEN_S3_ENDPOINT: s3.endpoint,
    HUIZHEN_S3_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
    HUIZHEN_S3_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
    ...extra,
  };
}

/** A logger whose JSON lines are kept in memory for assertions. */
export function captureLogger(level: 'info' | 'debug' = 'info'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const echo = process.env['HUIZHEN_TEST_LOG'] === '1';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      if (echo) process.stderr.write(chunk);
      done();
    },
  });
  return { log: createLogger(level, sink), lines };
}

export interface TestServer extends HuizhenServer {
  dataDir: string;
  logLines: string[];
  /** The development CA that issued the server's TLS certificate. */
  ca: string;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  overrides?: ConfigInput;
  databaseUrl?: string;
  dataDir?: string;
  env?: Record<string, string>;
}

let template: Promise<string> | undefined;

/**
 * An initialised, empty PGlite data directory, made once per test run.
 * Creating one costs ~5 s of WebAssembly initdb; copying it costs ~0.3 s.
 */
export function pgliteTemplate(): Promise<string> {
  template ??= (async () => {
    const dir = path.join(tempDir('huizhen-pglite-template-'), 'pglite');
    const db = await PgliteDatabase.open(dir);
    await db.close();
    return dir;
  })();
  return template;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? tempDir();
  if (!options.databaseUrl && !fs.existsSync(path.join(dataDir, 'pglite'))) {
    fs.cpSync(await pgliteTemplate(), path.join(dataDir, 'pglite'), { recursive: true });
  }
  const config = loadConfig({
    env: { ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}), ...options.env },
    overrides: {
      dataDir,
      ...options.overrides,
      http: { port: 0, ...options.overrides?.http },
      media: { workers: 1, ...options.overrides?.media },
      // The demonstration directory costs seconds of key generation: only for tests that ask for it.
      consultations: { seedDemoDirectory: false, ...options.overrides?.consultations },
    },
  });
  const { log, lines } = captureLogger();
  const server = await startHuizhen(config, { log });
  const ca = server.identity.tls.devCaCertificatePem ?? server.identity.tls.certificatePem;
  return {
    ...server,
    dataDir,
    logLines: lines,
    ca,
    async stop() {
      await server.close();
      if (!options.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // Test assertions read arbitrary JSON bodies.
  json: any;
}

/** HTTPS request trusting `ca` (node's fetch cannot take a CA per call). */
export function httpsRequest(
  url: string,
  options: { ca: string; method?: string; headers?: Record<string, string>; body?: string } ,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, ca: options.ca, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = undefined;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export function get(server: TestServer, pathname: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return httpsRequest(`https://127.0.0.1:${server.port}${pathname}`, { ca: server.ca, headers });
}

export function postJson(server: TestServer, pathname: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  return httpsRequest(`https://127.0.0.1:${server.port}${pathname}`, {
    ca: server.ca,
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** A socket.io client that has not connected yet (autoConnect off). */
export function socketClient(server: TestServer, token: unknown): ClientSocket {
  return ioClient(`https://127.0.0.1:${server.port}`, {
    auth: token === undefined ? {} : { token },
    transports: ['websocket'],
    ca: server.ca,
    autoConnect: false,
    reconnection: false,
    forceNew: true,
  });
}

/** Connects; resolves on `connect`, or with the coded error from `connect_error`. */
export function connectSocket(socket: ClientSocket): Promise<{ connected: true } | { connected: false; data: any }> {
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ connected: true }));
    socket.once('connect_error', (err: Error & { data?: unknown }) => resolve({ connected: false, data: err.data }));
    socket.connect();
  });
}
