import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { SHUTDOWN_PHASES } from '../../server/lifecycle/ShutdownSequence.ts';
import { createCertificateAuthority, issueServerCertificate } from '../../server/pki/certificates.ts';
import { LocalRsaKeyService } from '../../server/pki/KeyEncryptionService.ts';
import { ManifestSigner } from '../../server/pki/ManifestSigner.ts';
import { EmbeddedS3Server } from '../../server/storage/objects/index.ts';
import { sharedPostgres } from '../support/postgres.ts';
import { runNode } from '../support/process.ts';
import { externalS3Env, get, httpsRequest, postJson, startTestServer, tempDir } from '../support/server.ts';

describe('the server process (npm start)', function () {
  this.timeout(60_000);

  it('starts on embedded defaults, prints its URL, and shuts down in the fixed order on SIGTERM', async () => {
    const dataDir = tempDir();
    const proc = runNode('server/main.ts', [], { HUIZHEN_DATA_DIR: dataDir, HUIZHEN_PORT: '0', HUIZHEN_MEDIA_WORKERS: '1' });
    try {
      const [, url] = await proc.waitFor(/Huizhen is running: (https:\/\/\S+)/);
      const ca = fs.readFileSync(path.join(dataDir, 'keys', 'dev-ca.crt.pem'), 'utf8');
      const ready = await httpsRequest(`${url}/readyz`, { ca });
      expect(ready.status).to.equal(200);

      proc.child.kill('SIGTERM');
      expect(await proc.exited).to.equal(0);
      const steps = proc
        .stdout()
        .split('\n')
        .filter((l) => l.includes('"shutdown step done"'))
        .map((l) => (JSON.parse(l) as { step: string }).step);
      expect(steps).to.include.members([
        'stop-accepting/https-listener',
        'end-rooms/consultation-rooms',
        'close-connections/signaling-and-http',
        'stop-media/worker-pool',
        'flush-audit/audit-checkpoint',
        'close-object-store/object-store',
        'close-database/database',
      ]);
      const phaseIndex = steps.map((s) => SHUTDOWN_PHASES.indexOf(s.split('/')[0] as (typeof SHUTDOWN_PHASES)[number]));
      expect(phaseIndex).to.deep.equal([...phaseIndex].sort((a, b) => a - b));
      expect(proc.stdout()).to.include('"shutdown complete"');
      // Every log line is JSON with a level and a time.
      for (const line of proc.stdout().split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        expect(entry).to.have.property('level');
        expect(entry).to.have.property('time');
      }
    } finally {
      proc.child.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('never writes secrets from its configuration into its logs, even when they fail', async () => {
    const dbPassword = `db-${crypto.randomBytes(8).toString('hex')}`;
    const s3Secret = `s3-${crypto.randomBytes(8).toString('hex')}`;
    const s3 = await EmbeddedS3Server.start({ directory: tempDir(), port: 0, bucket: 'huizhen' });
    const dbUrl = new URL(await (await sharedPostgres()).createDatabase());
    dbUrl.password = dbPassword; // trust authentication ignores it
    const dataDir = tempDir();
    const proc = runNode('server/main.ts', [], {
      HUIZHEN_DATA_DIR: dataDir,
      HUIZHEN_PORT: '0',
      HUIZHEN_MEDIA_WORKERS: '1',
      DATABASE_URL: dbUrl.toString(),
      HUIZHEN_S3_ENDPOINT: s3.endpoint,
      HUIZHEN_S3_ACCESS_KEY_ID: 'huizhen',
      // Wrong for this S3 server: every request fails and is logged.
      HUIZHEN_S3_SECRET_ACCESS_KEY: s3Secret,
    });
    try {
      const [, url] = await proc.waitFor(/Huizhen is running: (https:\/\/\S+)/);
      const ca = fs.readFileSync(path.join(dataDir, 'keys', 'dev-ca.crt.pem'), 'utf8');
      const ready = await httpsRequest(`${url}/readyz`, { ca });
      expect(ready.status).to.equal(503);
      expect(ready.text).not.to.include(s3Secret);
      proc.child.kill('SIGTERM');
      await proc.exited;
      const output = proc.stdout() + proc.stderr();
      expect(output).to.include('"configuration loaded"');
      expect(output).to.include('object store unreachable at start');
      expect(output).not.to.include(dbPassword);
      expect(output).not.to.include(s3Secret);
    } finally {
      proc.child.kill('SIGKILL');
      await s3.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('exits with status 2 and a readable list on a bad configuration', async () => {
    const proc = runNode('server/main.ts', [], { HUIZHEN_PORT: 'eighty', HUIZHEN_LOG_LEVEL: 'loud' });
    expect(await proc.exited).to.equal(2);
    expect(proc.stderr()).to.include('Invalid configuration:');
    expect(proc.stderr()).to.include('HUIZHEN_PORT (http.port): expected a whole number, got "eighty"');
    expect(proc.stderr()).not.to.match(/\n\s+at /); // no stack trace
  });

  it('refuses to start in production without real keys, PostgreSQL and S3', async () => {
    const proc = runNode('server/main.ts', [], { HUIZHEN_ENV: 'production' });
    expect(await proc.exited).to.equal(2);
    expect(proc.stderr()).to.include('tls.certFile (default): is required in production');
    expect(proc.stderr()).to.include('auth.publicKeyFile (default): is required in production');
  });
});

describe('production mode with hospital-provided keys', function () {
  this.timeout(60_000);

  it('starts on configured certificate, token keys, PostgreSQL and S3, and has no development login', async () => {
    const dir = tempDir();
    const file = (name: string, contents: string) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, contents, { mode: 0o600 });
      return p;
    };
    const ca = createCertificateAuthority({ commonName: '某某县人民医院 CA' }, 30);
    const tls = issueServerCertificate(ca, { subject: { commonName: 'huizhen.hospital.local' }, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 30 });
    const tokenKeys = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    // The hospital's recording keys, prepared beforehand (as an operator would).
    const recordingKeys = path.join(dir, 'recording-keys');
    LocalRsaKeyService.load(recordingKeys, { generate: true });
    ManifestSigner.load(recordingKeys, { generate: true });
    const s3 = await EmbeddedS3Server.start({ directory: tempDir(), port: 0, bucket: 'huizhen' });
    const server = await startTestServer({
      databaseUrl: await (await sharedPostgres()).createDatabase(),
      env: {
        HUIZHEN_ENV: 'production',
        HUIZHEN_TLS_CERT_FILE: file('tls.crt', tls.certificatePem),
        HUIZHEN_TLS_KEY_FILE: file('tls.key', tls.privateKeyPem),
        HUIZHEN_JWT_PUBLIC_KEY_FILE: file('jwt.pub', tokenKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString()),
        ...externalS3Env(s3),
        HUIZHEN_RECORDING_KEY_DIR: recordingKeys,
      },
    });
    try {
      const trusted = { ...server, ca: ca.certificatePem };
      expect((await get(trusted, '/readyz')).status).to.equal(200);
      expect(fs.existsSync(path.join(server.dataDir, 'keys'))).to.equal(false); // nothing generated
      const devToken = await postJson(trusted, '/api/dev/token', { role: 'host', userId: 'x' });
      expect(devToken.status).to.equal(404);
      expect(server.tokenIssuer).to.equal(null);

      // A token from the hospital's identity provider (its key) is accepted.
      const t = Math.floor(Date.now() / 1000);
      const token = jwt.sign({ sub: 'dr-ma', role: 'expert', iat: t, nbf: t, exp: t + 300, iss: 'huizhen', aud: 'huizhen' }, tokenKeys.privateKey, {
        algorithm: 'ES256',
      });
      const session = await get(trusted, '/api/session', { Authorization: `Bearer ${token}` });
      expect(session.status).to.equal(200);
      expect(session.json.userId).to.equal('dr-ma');
    } finally {
      await server.stop();
      await s3.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never offers the development login with a configured signing key, even in development', async () => {
    const dir = tempDir();
    const keys = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pub = path.join(dir, 'jwt.pub');
    const key = path.join(dir, 'jwt.key');
    fs.writeFileSync(pub, keys.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    fs.writeFileSync(key, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
    const server = await startTestServer({ env: { HUIZHEN_JWT_PUBLIC_KEY_FILE: pub, HUIZHEN_JWT_PRIVATE_KEY_FILE: key } });
    try {
      expect((await postJson(server, '/api/dev/token', { role: 'institution_admin', userId: 'x' })).status).to.equal(404);
      expect((await get(server, '/api/info')).json).to.include({ devLogin: false });
      expect(server.tokenIssuer).not.to.equal(null); // the CLI can still mint with it
    } finally {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
