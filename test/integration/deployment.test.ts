import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '../../server/config/index.ts';
import { LocalRsaKeyService } from '../../server/pki/KeyEncryptionService.ts';
import { ManifestSigner } from '../../server/pki/ManifestSigner.ts';
import { ROOT } from '../support/process.ts';
import { tempDir } from '../support/server.ts';

describe('deployment files', () => {
  it('docker-compose.yml passes `docker-compose config -q`', () => {
    const result = spawnSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), 'config', '-q'], { encoding: 'utf8' });
    expect(result.status, result.stderr).to.equal(0);
  });

  it('docker-compose.yml runs Huizhen with PostgreSQL, MinIO (bucket created), Redis and coturn', () => {
    const services = execFileSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), 'config', '--services'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .sort();
    expect(services).to.include.members(['huizhen', 'postgres', 'minio', 'minio-setup', 'redis', 'coturn']);
    const config = execFileSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), 'config'], { encoding: 'utf8' });
    expect(config).to.match(/DATABASE_URL: postgres:\/\/huizhen:.*@postgres:5432\/huizhen/);
    expect(config).to.include('HUIZHEN_S3_ENDPOINT: http://minio:9000');
    expect(config).to.include('HUIZHEN_ENV: production');
  });

  it('the cluster profile: two nodes with valid production configurations on Redis, and nginx filling every placeholder of the shared template', () => {
    const resolved = execFileSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), 'config'], { encoding: 'utf8' });
    const serviceEnv = (name: string): Record<string, string> => {
      const service = new RegExp(`^  ${name}:\\n([\\s\\S]*?)^  \\S`, 'm').exec(resolved)?.[1] ?? '';
      const environment = /^    environment:\n((?:      .*\n)+)/m.exec(service)?.[1] ?? '';
      return Object.fromEntries(
        environment.trimEnd().split('\n').map((line) => {
          const match = /^      ([A-Z0-9_]+): (.*)$/.exec(line);
          if (!match) throw new Error(`unexpected environment line ${line}`);
          return [match[1] as string, (match[2] as string).replace(/^'(.*)'$|^"(.*)"$/, '$1$2')];
        }),
      );
    };
    const ids = new Set<string>();
    for (const node of ['huizhen-node-1', 'huizhen-node-2']) {
      const env = serviceEnv(node);
      // Secrets are empty without .env; stand-ins let the configuration load.
      const config = loadConfig({ env: { ...env, HUIZHEN_S3_SECRET_ACCESS_KEY: 'x'.repeat(20), HUIZHEN_TURN_SECRET: 'y'.repeat(20) } });
      expect(config.cluster.redisUrl, node).to.match(/^redis:\/\/.*@redis:6379$/);
      expect(config.cluster.nodeUrl, node).to.equal(`https://localhost:8443/node/${config.cluster.nodeId}`);
      ids.add(config.cluster.nodeId);
    }
    expect([...ids].sort()).to.deep.equal(['n1', 'n2']);
    // The load balancer sets every HUIZHEN_ placeholder of its template, and routes /node/<id>/ for both node ids.
    const lbEnv = serviceEnv('huizhen-lb');
    const template = fs.readFileSync(path.join(ROOT, 'deploy/nginx/huizhen-lb.conf.template'), 'utf8');
    const placeholders = new Set([...template.matchAll(/\$\{(HUIZHEN_[A-Z0-9_]+)\}/g)].map((m) => m[1] as string));
    expect([...placeholders].filter((p) => !(p in lbEnv))).to.deep.equal([]);
    for (const id of ids) expect(template).to.include(`location /node/${id}/ {`);
    expect(resolved).to.include('deploy/nginx/huizhen-lb.conf.template:/etc/nginx/templates/huizhen.conf.template:ro');
  });

  it('the compose secrets script makes the keys a production Huizhen starts with, where compose points it', async function () {
    this.timeout(120_000);
    // Run the script in a copy of scripts/ so it writes .env and
    // deploy/secrets/ there, not into the working tree.
    const dir = tempDir();
    fs.cpSync(path.join(ROOT, 'scripts'), path.join(dir, 'scripts'), { recursive: true });
    const run = spawnSync('bash', [path.join(dir, 'scripts/init-compose-secrets.sh'), '10.20.30.40'], { encoding: 'utf8' });
    expect(run.status, run.stderr).to.equal(0);
    expect(fs.readFileSync(path.join(dir, '.env'), 'utf8')).to.match(/^HUIZHEN_PUBLIC_HOST=10\.20\.30\.40$/m);

    // The huizhen service's environment, as docker-compose resolves it (with
    // the generated .env), is a valid production configuration...
    const resolved = execFileSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), '--env-file', path.join(dir, '.env'), 'config'], { encoding: 'utf8' });
    const service = /^  huizhen:\n([\s\S]*?)^  \S/m.exec(resolved)?.[1] ?? '';
    const environment = /^    environment:\n((?:      .*\n)+)/m.exec(service)?.[1] ?? '';
    const env = Object.fromEntries(
      environment.trimEnd().split('\n').map((line) => {
        const match = /^      ([A-Z0-9_]+): (.*)$/.exec(line);
        if (!match) throw new Error(`unexpected environment line ${line}`);
        return [match[1] as string, (match[2] as string).replace(/^'(.*)'$|^"(.*)"$/, '$1$2')];
      }),
    );
    const config = loadConfig({ env });
    expect(config.env).to.equal('production');

    // ...whose key folder is the script's recording-keys/ mounted at /run/huizhen.
    expect(service).to.match(/^    - \S*\/deploy\/secrets:\/run\/huizhen:ro$/m);
    const keyDir = path.join(dir, 'deploy/secrets', path.relative('/run/huizhen', config.recordings.keyDir as string));
    const kek = LocalRsaKeyService.load(keyDir, { generate: false });
    const dataKey = crypto.randomBytes(32);
    expect(await kek.unwrap(await kek.wrap(dataKey))).to.deep.equal(dataKey);
    expect(ManifestSigner.load(keyDir, { generate: false }).publicKeyPem).to.include('PUBLIC KEY');

    // Running it again keeps every key (no accidental rotation).
    const before = fs.readdirSync(keyDir).sort();
    const again = spawnSync('bash', [path.join(dir, 'scripts/init-compose-secrets.sh'), '10.20.30.40'], { encoding: 'utf8' });
    expect(again.status, again.stderr).to.equal(0);
    expect(fs.readdirSync(keyDir).sort()).to.deep.equal(before);
    expect(LocalRsaKeyService.load(keyDir, { generate: false }).activeKeyId).to.equal(kek.activeKeyId);
  });

  it('the Dockerfile builds the worker with the same offline script and patch', () => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).to.include('scripts/mediasoup/build-worker.sh');
    expect(dockerfile).to.match(/FROM debian:bookworm/);
  });

  it('README keeps a two-line Quick start that .ci/run uses', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const quick = /## Quick start[\s\S]*?```(?:sh|bash)?\n([\s\S]*?)```/.exec(readme)?.[1]?.trim().split('\n') ?? [];
    expect(quick, 'exactly two command lines').to.have.length(2);
    const [serverLine, testLine] = quick as [string, string];
    expect(serverLine).to.include('npm start');
    expect(testLine).to.include('npm test');
    const ci = fs.readFileSync(path.join(ROOT, '.ci/run'), 'utf8');
    expect(ci).to.include(testLine);
  });
});
