/**
 * Detached signatures by the server's signing key (RSA, node-forge) over
 * the canonical JSON of a value: approval decisions and audit checkpoints.
 * The same key signs recording manifests; its public half is in the key
 * registry, so anyone can verify later without the server.
 */
import forge from 'node-forge';
import { canonicalJson } from '../util/canonicalJson.ts';

export const DETACHED_SIGNATURE_ALGORITHM = 'RSASSA-PKCS1-v1_5-SHA256' as const;

export interface Signer {
  keyId: string;
  privateKey: forge.pki.rsa.PrivateKey;
}

export interface DetachedSignature {
  keyId: string;
  algorithm: typeof DETACHED_SIGNATURE_ALGORITHM;
  value: string;
}

export function signCanonical(value: unknown, signer: Signer): DetachedSignature {
  const md = forge.md.sha256.create();
  md.update(canonicalJson(value), 'utf8');
  return { keyId: signer.keyId, algorithm: DETACHED_SIGNATURE_ALGORITHM, value: forge.util.encode64(signer.privateKey.sign(md)) };
}

export function verifyCanonical(value: unknown, signature: Pick<DetachedSignature, 'value'>, publicKeyPem: string): boolean {
  try {
    const publicKey = forge.pki.publicKeyFromPem(publicKeyPem) as forge.pki.rsa.PublicKey;
    const md = forge.md.sha256.create();
    md.update(canonicalJson(value), 'utf8');
    return publicKey.verify(md.digest().bytes(), forge.util.decode64(signature.value));
  } catch {
    return false;
  }
}
