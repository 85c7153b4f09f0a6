/**
 * Small secrets and documents kept encrypted under the hospital's KEK: a
 * fresh AES-256-GCM data key per item (node:crypto), bound to what the item
 * is by the additional data, the data key wrapped by the KEK. Used for
 * practitioners' and institutions' private keys and for prior diagnosis
 * documents.
 */
import crypto from 'node:crypto';
import type { KeyEncryptionService, WrappedKey } from './KeyEncryptionService.ts';

export interface SealedItem {
  /** nonce (12) | ciphertext | tag (16) */
  sealed: Buffer;
  key: WrappedKey;
}

export async function sealItem(kek: KeyEncryptionService, context: string, plaintext: Buffer): Promise<SealedItem> {
  const dataKey = crypto.randomBytes(32);
  try {
    const nonce = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', dataKey, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const sealed = Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { sealed, key: await kek.wrap(dataKey) };
  } finally {
    dataKey.fill(0);
  }
}

export async function openItem(kek: KeyEncryptionService, context: string, item: SealedItem): Promise<Buffer> {
  const dataKey = await kek.unwrap(item.key);
  try {
    const nonce = item.sealed.subarray(0, 12);
    const tag = item.sealed.subarray(item.sealed.length - 16);
    const decipher = crypto.createDecipheriv('aes-256-gcm', dataKey, nonce);
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(item.sealed.subarray(12, item.sealed.length - 16)), decipher.final()]);
  } finally {
    dataKey.fill(0);
  }
}
