import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { ROOT } from '../support/process.ts';

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
