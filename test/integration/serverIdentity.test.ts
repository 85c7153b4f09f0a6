import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '../../server/config/index.ts';
import { KeyFileError } from '../../server/pki/keyFiles.ts';
import { DEV_FILES, loadServerIdentity } from '../../server/pki/serverIdentity.ts';
import { tempDir } from '../support/server.ts';

const mode = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);

function expectKeyError(fn: () => unknown, message: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error).to.be.instanceOf(KeyFileError);
  expect((error as Error).message).to.match(message);
}

describe('server identity: token keys and TLS certificate', () => {
  describe('development (generated on first start)', () => {
    let dataDir: string;
    beforeEach(() => {
      dataDir = tempDir();
    });
    afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

    it('generates an ES256 key pair, a development CA and a TLS certificate, readable by the owner only', () => {
      const config = loadConfig({ env: {}, overrides: { dataDir } });
      const identity = loadServerIdentity(config);
      const keys = path.join(dataDir, 'keys');
      expect(mode(keys)).to.equal('700');
      for (const file of Object.values(DEV_FILES)) {
        expect(mode(path.join(keys, file)), file).to.equal('600');
      }
      expect(identity.generatedFiles).to.have.length(6);
      const signing = crypto.createPrivateKey(identity.tokens.signingKeyPem as string);
      expect(signing.asymmetricKeyType).to.equal('ec');
      expect(signing.asymmetricKeyDetails?.namedCurve).to.equal('prime256v1');
    });

    it('reuses the same keys on the next start', () => {
      const config = loadConfig({ env: {}, overrides: { dataDir } });
      const first = loadServerIdentity(config);
      const second = loadServerIdentity(config);
      expect(second.generatedFiles).to.deep.equal([]);
      expect(second.tokens.keyId).to.equal(first.tokens.keyId);
      expect(second.tls.certificatePem).to.equal(first.tls.certificatePem);
    });

    it('issues a certificate that the development CA signed for this machine’s names', () => {
      const identity = loadServerIdentity(loadConfig({ env: {}, overrides: { dataDir } }));
      const cert = new crypto.X509Certificate(identity.tls.certificatePem);
      const ca = new crypto.X509Certificate(identity.tls.devCaCertificatePem as string);
      expect(cert.verify(ca.publicKey)).to.equal(true);
      expect(cert.checkIssued(ca)).to.equal(true);
      expect(cert.checkHost('localhost')).to.equal('localhost');
      expect(cert.checkHost(os.hostname())).to.be.a('string');
      expect(cert.checkIP('127.0.0.1')).to.equal('127.0.0.1');
      expect(cert.checkIP('::1')).to.be.a('string');
      expect(ca.ca).to.equal(true);
    });

    it('reissues the certificate (same CA) when the server is given another address', () => {
      const first = loadServerIdentity(loadConfig({ env: {}, overrides: { dataDir } }));
      const second = loadServerIdentity(loadConfig({ env: {}, overrides: { dataDir, http: { host: '10.20.30.40' } } }));
      expect(second.tls.certificatePem).not.to.equal(first.tls.certificatePem);
      expect(second.tls.devCaCertificatePem).to.equal(first.tls.devCaCertificatePem);
      expect(new crypto.X509Certificate(second.tls.certificatePem).checkIP('10.20.30.40')).to.equal('10.20.30.40');
    });

    it('issues a new certificate when the development CA was replaced, and when the TLS key is missing', () => {
      const config = loadConfig({ env: {}, overrides: { dataDir } });
      const first = loadServerIdentity(config);
      const keys = path.join(dataDir, 'keys');
      fs.rmSync(path.join(keys, DEV_FILES.caCert));
      fs.rmSync(path.join(keys, DEV_FILES.caKey));
      const second = loadServerIdentity(config);
      expect(second.tls.devCaCertificatePem).not.to.equal(first.tls.devCaCertificatePem);
      const cert = new crypto.X509Certificate(second.tls.certificatePem);
      expect(cert.verify(new crypto.X509Certificate(second.tls.devCaCertificatePem as string).publicKey)).to.equal(true);

      fs.rmSync(path.join(keys, DEV_FILES.tlsKey));
      const third = loadServerIdentity(config);
      expect(third.generatedFiles).to.include(path.join(keys, DEV_FILES.tlsKey));
      expect(new crypto.X509Certificate(third.tls.certificatePem).checkPrivateKey(crypto.createPrivateKey(third.tls.privateKeyPem))).to.equal(true);
    });

    it('refuses a private key file that group or others can read', () => {
      const config = loadConfig({ env: {}, overrides: { dataDir } });
      loadServerIdentity(config);
      fs.chmodSync(path.join(dataDir, 'keys', DEV_FILES.tokenSigningKey), 0o644);
      expectKeyError(() => loadServerIdentity(config), /readable by group or others \(mode 644\); run chmod 600/);
    });
  });

  describe('configured key files', () => {
    let dir: string;
    const write = (name: string, pem: string, fileMode = 0o600) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, pem, { mode: fileMode });
      fs.chmodSync(file, fileMode);
      return file;
    };
    beforeEach(() => {
      dir = tempDir();
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    function configWithFiles(auth: Record<string, string>, tls: Record<string, string> = {}) {
      return loadConfig({
        env: {},
        overrides: { env: 'development', dataDir: dir, auth, tls },
      });
    }

    it('refuses to start in production without key files', () => {
      const config = { ...loadConfig({ env: {}, overrides: { dataDir: dir } }), env: 'production' as const };
      expectKeyError(() => loadServerIdentity(config), /tls\.certFile and tls\.keyFile are required in production/);
    });

    it('refuses a token key that is not EC P-256 (tokens are ES256 only)', () => {
      const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pub = write('rsa.pub.pem', publicKey.export({ type: 'spki', format: 'pem' }).toString());
      expectKeyError(() => loadServerIdentity(configWithFiles({ publicKeyFile: pub })), /must be an EC P-256 key/);
    });

    it('refuses a signing key that does not belong to the verify key', () => {
      const a = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const b = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pub = write('a.pub.pem', a.publicKey.export({ type: 'spki', format: 'pem' }).toString());
      const key = write('b.key.pem', b.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      expectKeyError(
        () => loadServerIdentity(configWithFiles({ publicKeyFile: pub, privateKeyFile: key })),
        /does not belong to auth\.publicKeyFile/,
      );
    });

    it('verifies only, without a signing key, when just the public key is configured', () => {
      const a = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pub = write('a.pub.pem', a.publicKey.export({ type: 'spki', format: 'pem' }).toString());
      const identity = loadServerIdentity(configWithFiles({ publicKeyFile: pub }));
      expect(identity.tokens.signingKeyPem).to.equal(null);
      expect(identity.tokens.keyId).to.match(/^[0-9a-f]{32}$/);
    });
  });
});
