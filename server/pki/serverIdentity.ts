/**
 * The server's own key material: the TLS certificate and the ES256 key pair
 * that signs and verifies tokens.
 *
 * Production reads them from configured files and refuses to start without
 * them. Development generates what is missing on first start, under
 * `<dataDir>/keys/` (directory 0700, files 0600): a token-signing key pair, a
 * development CA and a TLS certificate issued by it for this machine's names.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import type { Config } from '../config/index.ts';
import {
  createCertificateAuthority,
  issueServerCertificate,
  normaliseIp,
  summariseCertificate,
  type IssuedCertificate,
} from './certificates.ts';
import {
  KeyFileError,
  ensurePrivateDir,
  publicKeyFingerprint,
  readPrivateKeyFile,
  readPublicFile,
  writePrivateFile,
} from './keyFiles.ts';

export interface ServerIdentity {
  tls: {
    certificatePem: string;
    privateKeyPem: string;
    /** The development CA, for clients that should trust it; null with a configured certificate. */
    devCaCertificatePem: string | null;
  };
  tokens: {
    /** ES256 public key that verifies tokens. */
    verifyKeyPem: string;
    /** ES256 private key that signs tokens; null when only verification is configured. */
    signingKeyPem: string | null;
    /** SHA-256 fingerprint of the verify key, used as `kid`. */
    keyId: string;
    /** True when the keys are the generated development pair, never a configured one. */
    generated: boolean;
  };
  /** Files created by this call (empty when everything existed). */
  generatedFiles: string[];
}

export function keysDir(config: Config): string {
  return path.join(config.dataDir, 'keys');
}

export const DEV_FILES = {
  tokenSigningKey: 'token-signing.key.pem',
  tokenVerifyKey: 'token-signing.pub.pem',
  caCert: 'dev-ca.crt.pem',
  caKey: 'dev-ca.key.pem',
  tlsCert: 'tls.crt.pem',
  tlsKey: 'tls.key.pem',
} as const;

export function loadServerIdentity(config: Config): ServerIdentity {
  const generatedFiles: string[] = [];
  const tls = loadTls(config, generatedFiles);
  const tokens = loadTokenKeys(config, generatedFiles);
  return { tls, tokens, generatedFiles };
}

function loadTokenKeys(config: Config, generated: string[]): ServerIdentity['tokens'] {
  let verifyKeyPem: string;
  let signingKeyPem: string | null = null;
  let generatedPair = false;

  if (config.auth.publicKeyFile) {
    verifyKeyPem = readPublicFile(config.auth.publicKeyFile, 'auth.publicKeyFile');
    if (config.auth.privateKeyFile) {
      signingKeyPem = readPrivateKeyFile(config.auth.privateKeyFile, 'auth.privateKeyFile');
    }
  } else if (config.env === 'development') {
    const dir = keysDir(config);
    const keyFile = path.join(dir, DEV_FILES.tokenSigningKey);
    const pubFile = path.join(dir, DEV_FILES.tokenVerifyKey);
    if (!fs.existsSync(keyFile) || !fs.existsSync(pubFile)) {
      ensurePrivateDir(dir);
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      writePrivateFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      writePrivateFile(pubFile, publicKey.export({ type: 'spki', format: 'pem' }).toString());
      generated.push(keyFile, pubFile);
    }
    signingKeyPem = readPrivateKeyFile(keyFile, 'development token-signing key');
    verifyKeyPem = readPublicFile(pubFile, 'development token verify key');
    generatedPair = true;
  } else {
    throw new KeyFileError('auth.publicKeyFile is required in production');
  }

  assertEs256(verifyKeyPem, 'token verify key');
  if (signingKeyPem) {
    assertEs256(signingKeyPem, 'token signing key');
    const derived = crypto.createPublicKey(signingKeyPem).export({ type: 'spki', format: 'pem' }).toString();
    if (publicKeyFingerprint(derived) !== publicKeyFingerprint(verifyKeyPem)) {
      throw new KeyFileError('auth.privateKeyFile does not belong to auth.publicKeyFile');
    }
  }
  return {
    verifyKeyPem,
    signingKeyPem,
    keyId: publicKeyFingerprint(verifyKeyPem).slice(0, 32),
    generated: generatedPair,
  };
}

function assertEs256(pem: string, what: string): void {
  let key: crypto.KeyObject;
  try {
    key = pem.includes('PRIVATE KEY') ? crypto.createPrivateKey(pem) : crypto.createPublicKey(pem);
  } catch {
    throw new KeyFileError(`${what}: not a PEM key`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new KeyFileError(`${what}: must be an EC P-256 key (tokens are signed with ES256)`);
  }
}

function loadTls(config: Config, generated: string[]): ServerIdentity['tls'] {
  if (config.tls.certFile && config.tls.keyFile) {
    return {
      certificatePem: readPublicFile(config.tls.certFile, 'tls.certFile'),
      privateKeyPem: readPrivateKeyFile(config.tls.keyFile, 'tls.keyFile'),
      devCaCertificatePem: null,
    };
  }
  if (config.env !== 'development') {
    throw new KeyFileError('tls.certFile and tls.keyFile are required in production');
  }

  const dir = keysDir(config);
  ensurePrivateDir(dir);
  const file = (name: string) => path.join(dir, name);

  let ca: IssuedCertificate;
  if (fs.existsSync(file(DEV_FILES.caCert)) && fs.existsSync(file(DEV_FILES.caKey))) {
    ca = {
      certificatePem: readPublicFile(file(DEV_FILES.caCert), 'development CA certificate'),
      privateKeyPem: readPrivateKeyFile(file(DEV_FILES.caKey), 'development CA key'),
      publicKeyPem: '',
    };
  } else {
    ca = createCertificateAuthority(
      { commonName: 'Huizhen development CA', organizationName: 'Huizhen (development only)' },
      3650,
    );
    writePrivateFile(file(DEV_FILES.caKey), ca.privateKeyPem);
    writePrivateFile(file(DEV_FILES.caCert), ca.certificatePem);
    generated.push(file(DEV_FILES.caKey), file(DEV_FILES.caCert));
  }

  const names = devCertificateNames(config);
  const certFile = file(DEV_FILES.tlsCert);
  const keyFile = file(DEV_FILES.tlsKey);
  if (!certUsable(certFile, keyFile, ca.certificatePem, names)) {
    const issued = issueServerCertificate(ca, {
      subject: { commonName: names.dnsNames[0] ?? 'localhost', organizationName: 'Huizhen (development only)' },
      dnsNames: names.dnsNames,
      ipAddresses: names.ipAddresses,
      days: 365,
    });
    writePrivateFile(keyFile, issued.privateKeyPem);
    writePrivateFile(certFile, issued.certificatePem);
    generated.push(keyFile, certFile);
  }
  return {
    certificatePem: readPublicFile(certFile, 'development TLS certificate'),
    privateKeyPem: readPrivateKeyFile(keyFile, 'development TLS key'),
    devCaCertificatePem: ca.certificatePem,
  };
}

/** The names a development certificate must cover for this configuration. */
export function devCertificateNames(config: Config): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames = new Set(['localhost', os.hostname()]);
  const ipAddresses = new Set(['127.0.0.1', '::1']);
  const add = (host: string) => {
    const bare = host.replace(/^\[|\]$/g, '');
    if (net.isIP(bare)) {
      if (bare !== '0.0.0.0' && bare !== '::') ipAddresses.add(normaliseIp(bare));
    } else if (bare) {
      dnsNames.add(bare.toLowerCase());
    }
  };
  add(config.http.host);
  if (config.http.publicUrl) add(new URL(config.http.publicUrl).hostname);
  return { dnsNames: [...dnsNames], ipAddresses: [...ipAddresses] };
}

/**
 * Whether the development certificate can be served as it is: present with
 * its key, issued by the current development CA, valid for another month,
 * and covering every name this configuration is reached by.
 */
function certUsable(
  certFile: string,
  keyFile: string,
  caCertificatePem: string,
  names: { dnsNames: string[]; ipAddresses: string[] },
): boolean {
  if (!fs.existsSync(certFile) || !fs.existsSync(keyFile)) return false;
  try {
    const pem = fs.readFileSync(certFile, 'utf8');
    const cert = new crypto.X509Certificate(pem);
    if (!cert.verify(new crypto.X509Certificate(caCertificatePem).publicKey)) return false;
    if (!cert.checkPrivateKey(crypto.createPrivateKey(readPrivateKeyFile(keyFile, 'development TLS key')))) return false;
    const summary = summariseCertificate(pem);
    const renewBefore = Date.now() + 30 * 24 * 3600 * 1000;
    return (
      summary.notAfter.getTime() > renewBefore &&
      names.dnsNames.every((n) => summary.dnsNames.includes(n)) &&
      names.ipAddresses.every((ip) => summary.ipAddresses.includes(ip))
    );
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    return false;
  }
}
