/**
 * The server's manifest-signing key (RSA-3072; signatures with node-forge).
 * Development generates it under the data directory; production reads it
 * from the configured key directory and refuses to start without it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';
import { KeyFileError, ensurePrivateDir, publicKeyFingerprint, readPrivateKeyFile, writePrivateFile } from './keyFiles.ts';

export const MANIFEST_KEY_FILE = 'manifest-signing.key.pem';

export class ManifestSigner {
  readonly keyId: string;
  readonly publicKeyPem: string;
  readonly privateKey: forge.pki.rsa.PrivateKey;

  private constructor(keyId: string, publicKeyPem: string, privateKey: forge.pki.rsa.PrivateKey) {
    this.keyId = keyId;
    this.publicKeyPem = publicKeyPem;
    this.privateKey = privateKey;
  }

  static load(dir: string, options: { generate: boolean }): ManifestSigner {
    const file = path.join(dir, MANIFEST_KEY_FILE);
    if (!fs.existsSync(file)) {
      if (!options.generate) throw new KeyFileError(`no manifest-signing key (${MANIFEST_KEY_FILE}) in ${dir}`);
      ensurePrivateDir(dir);
      const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 3072 });
      writePrivateFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    }
    const nodeKey = crypto.createPrivateKey(readPrivateKeyFile(file, 'manifest-signing key'));
    if (nodeKey.asymmetricKeyType !== 'rsa') throw new KeyFileError(`${file}: the manifest-signing key must be RSA`);
    const publicKeyPem = crypto.createPublicKey(nodeKey).export({ type: 'spki', format: 'pem' }).toString();
    const privateKey = forge.pki.privateKeyFromPem(nodeKey.export({ type: 'pkcs1', format: 'pem' }).toString()) as forge.pki.rsa.PrivateKey;
    return new ManifestSigner(publicKeyFingerprint(publicKeyPem).slice(0, 16), publicKeyPem, privateKey);
  }
}
