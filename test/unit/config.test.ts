import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { ConfigError, ENV_VARS, loadConfig, maskConfig, maskUrl, type ConfigInput } from '../../server/config/index.ts';
import { tempDir } from '../support/server.ts';

function problemsFor(env: Record<string, string>, overrides?: ConfigInput): string[] {
  try {
    loadConfig({ env, ...(overrides ? { overrides } : {}) });
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  expect.fail('configuration was accepted');
}

describe('configuration', () => {
  it('starts from defaults that run a development server on loopback', () => {
    const cfg = loadConfig({ env: {}, cwd: '/srv/huizhen' });
    expect(cfg.env).to.equal('development');
    expect(cfg.dataDir).to.equal('/srv/huizhen/data');
    expect(cfg.http).to.include({ host: '127.0.0.1', port: 8443 });
    expect(cfg.database.url).to.equal(undefined);
    expect(cfg.objectStore.endpoint).to.equal(undefined);
    expect(cfg.objectStore.checksumMode).to.equal('WHEN_REQUIRED');
    expect(cfg.media.workers).to.be.at.least(1);
  });

  it('layers defaults < file < environment < overrides', () => {
    const dir = tempDir();
    const file = path.join(dir, 'huizhen.json');
    fs.writeFileSync(file, JSON.stringify({ http: { port: 9000, host: '0.0.0.0' }, log: { level: 'warn' } }));
    const cfg = loadConfig({
      env: { HUIZHEN_CONFIG: file, HUIZHEN_PORT: '9100' },
      overrides: { log: { level: 'debug' } },
    });
    expect(cfg.http.host).to.equal('0.0.0.0'); // file
    expect(cfg.http.port).to.equal(9100); // env beats file
    expect(cfg.log.level).to.equal('debug'); // overrides beat file
    fs.rmSync(dir, { recursive: true });
  });

  const invalid: Array<[string, Record<string, string>, RegExp]> = [
    ['a port that is not a number', { HUIZHEN_PORT: 'eighty' }, /HUIZHEN_PORT \(http\.port\): expected a whole number, got "eighty"/],
    ['a port out of range', { HUIZHEN_PORT: '70000' }, /http\.port \(env HUIZHEN_PORT = 70000\): must be at most 65535/],
    ['a misspelt variable', { HUIZHEN_PROT: '8443' }, /HUIZHEN_PROT: unknown setting/],
    ['an unknown log level', { HUIZHEN_LOG_LEVEL: 'loud' }, /log\.level \(env HUIZHEN_LOG_LEVEL = "loud"\): must be one of/],
    ['a boolean that is not one', { HUIZHEN_S3_FORCE_PATH_STYLE: 'maybe' }, /HUIZHEN_S3_FORCE_PATH_STYLE .*expected true or false/],
    ['a non-PostgreSQL database URL', { DATABASE_URL: 'mysql://root:hunter2@db/huizhen' }, /database\.url \(env DATABASE_URL = \(value hidden\)\): must start with postgres:\/\//],
    ['an invalid bucket name', { HUIZHEN_S3_BUCKET: 'Bad_Bucket' }, /objectStore\.bucket .*valid S3 bucket name/],
    ['an S3 endpoint that is not a URL', { HUIZHEN_S3_ENDPOINT: 'minio:9000' }, /objectStore\.endpoint \(env HUIZHEN_S3_ENDPOINT = "minio:9000"\)/],
    ['a secret without its key id', { HUIZHEN_S3_SECRET_ACCESS_KEY: 's3cr3t-value' }, /objectStore\.accessKeyId .*must be set together/],
    ['a TLS certificate without its key', { HUIZHEN_TLS_CERT_FILE: '/etc/huizhen/tls.crt' }, /tls\.keyFile .*must be set together/],
    ['an inverted RTC port range', { HUIZHEN_RTC_MIN_PORT: '50000', HUIZHEN_RTC_MAX_PORT: '40000' }, /media\.rtcMinPort .*must not be greater than media\.rtcMaxPort \(40000\)/],
    ['zero media workers', { HUIZHEN_MEDIA_WORKERS: '0' }, /media\.workers \(env HUIZHEN_MEDIA_WORKERS = 0\): must be at least 1/],
    ['a listen address that is not an IP', { HUIZHEN_MEDIA_LISTEN_IP: 'localhost' }, /media\.listenIp .*"localhost"/],
    ['a clock tolerance above five minutes', { HUIZHEN_JWT_CLOCK_TOLERANCE_SECONDS: '3600' }, /auth\.clockToleranceSeconds .*must be at most 300/],
    ['an unknown environment', { HUIZHEN_ENV: 'staging' }, /env \(env HUIZHEN_ENV = "staging"\): must be one of/],
  ];
  for (const [what, env, message] of invalid) {
    it(`refuses ${what} with a readable message`, () => {
      const problems = problemsFor(env);
      expect(problems.join('\n')).to.match(message);
    });
  }

  it('reports every problem at once', () => {
    const problems = problemsFor({ HUIZHEN_PORT: 'x', HUIZHEN_LOG_LEVEL: 'loud', HUIZHEN_NOPE: '1' });
    expect(problems).to.have.length(3);
  });

  it('names unknown keys and bad values in the config file', () => {
    const dir = tempDir();
    const file = path.join(dir, 'huizhen.json');
    fs.writeFileSync(file, JSON.stringify({ http: { prot: 1 }, media: { workers: 'two' } }));
    const text = problemsFor({ HUIZHEN_CONFIG: file }).join('\n');
    expect(text).to.match(new RegExp(`http\\.prot \\(file ${file}\\): unknown setting`));
    expect(text).to.match(new RegExp(`media\\.workers \\(file ${file} = "two"\\): expected a number, got a string`));
    fs.rmSync(dir, { recursive: true });
  });

  it('refuses a config file that is not JSON or does not exist', () => {
    const dir = tempDir();
    const file = path.join(dir, 'broken.json');
    fs.writeFileSync(file, '{ http: ');
    expect(problemsFor({ HUIZHEN_CONFIG: file }).join()).to.match(/is not valid JSON/);
    expect(problemsFor({ HUIZHEN_CONFIG: path.join(dir, 'missing.json') }).join()).to.match(/cannot read .*ENOENT/);
    fs.rmSync(dir, { recursive: true });
  });

  it('demands real keys, PostgreSQL and S3 in production', () => {
    const text = problemsFor({ HUIZHEN_ENV: 'production' }).join('\n');
    for (const setting of ['tls.certFile', 'tls.keyFile', 'auth.publicKeyFile', 'database.url', 'objectStore.endpoint', 'objectStore.accessKeyId']) {
      expect(text).to.include(`${setting} (default): is required in production`);
    }
  });

  it('never echoes a secret from a config file, even misplaced or in broken JSON', () => {
    const dir = tempDir();
    const file = path.join(dir, 'huizhen.json');
    const secret = 'file-secret-that-must-not-leak';
    fs.writeFileSync(file, JSON.stringify({ database: `postgres://u:${secret}@db/h`, objectStore: { secretAccessKey: 42 } }));
    expect(problemsFor({ HUIZHEN_CONFIG: file }).join('\n')).not.to.include(secret);
    fs.writeFileSync(file, `{ "database": { "url": "postgres://u:${secret}@db/h" }, }`);
    const broken = problemsFor({ HUIZHEN_CONFIG: file }).join('\n');
    expect(broken).to.match(/is not valid JSON/);
    expect(broken).not.to.include(secret);
    fs.rmSync(dir, { recursive: true });
  });

  it('never echoes a secret in an error', () => {
    const secret = 'p4ss-w0rd-that-must-not-leak';
    const problems = problemsFor({
      DATABASE_URL: `mysql://root:${secret}@db/x`,
      HUIZHEN_S3_SECRET_ACCESS_KEY: secret,
    });
    expect(problems.join('\n')).not.to.include(secret);
  });

  it('masks secrets when the configuration is logged', () => {
    const cfg = loadConfig({
      env: {
        DATABASE_URL: 'postgres://huizhen:db-secret@db.hospital.local:5432/huizhen?sslpassword=ssl-secret',
        HUIZHEN_S3_ENDPOINT: 'https://minio.hospital.local',
        HUIZHEN_S3_ACCESS_KEY_ID: 'huizhen',
        HUIZHEN_S3_SECRET_ACCESS_KEY: 's3-secret',
      },
    });
    const text = JSON.stringify(maskConfig(cfg));
    for (const secret of ['db-secret', 'ssl-secret', 's3-secret']) expect(text).not.to.include(secret);
    expect(text).to.include('db.hospital.local'); // still useful to an operator
    expect(maskUrl('postgres://u:p@h/d')).to.equal('postgres://u:***@h/d');
    expect(maskUrl('not a url')).to.equal('***');
  });

  it('documents every environment variable in README', () => {
    const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const v of ENV_VARS) expect(readme, `README lacks ${v.name}`).to.include(`\`${v.name}\``);
  });
});
