/**
 * Sealing recorded media: AES-256-GCM (node:crypto) under the recording's
 * own data key, a fresh random 96-bit nonce per segment, and additional
 * authenticated data that binds the recording, the track and the segment
 * index — a segment cannot be moved to another place without failing to
 * open.
 *
 * Sealed layout: "HZS1" (4) | nonce (12) | ciphertext | tag (16).
 */
import crypto from 'node:crypto';

export const CIPHER = 'AES-256-GCM' as const;
const MAGIC = Buffer.from('HZS1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface SegmentPlace {
  recordingId: string;
  trackId: string;
  index: number;
}

export class IntegrityError extends Error {
  readonly segment: string | null;

  constructor(message: string, segment: string | null = null) {
    super(message);
    this.name = 'IntegrityError';
    this.segment = segment;
  }
}

export function newDataKey(): Buffer {
  return crypto.randomBytes(32);
}

function aad(place: SegmentPlace): Buffer {
  return Buffer.from(`huizhen-segment/1|${place.recordingId}|${place.trackId}|${place.index}`);
}

export function sealSegment(dataKey: Buffer, place: SegmentPlace, plaintext: Buffer): Buffer {
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', dataKey, nonce);
  cipher.setAAD(aad(place));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([MAGIC, nonce, body, cipher.getAuthTag()]);
}

export function openSegment(dataKey: Buffer, place: SegmentPlace, sealed: Buffer): Buffer {
  const name = `${place.trackId}#${place.index}`;
  if (sealed.length < MAGIC.length + NONCE_BYTES + TAG_BYTES || !sealed.subarray(0, 4).equals(MAGIC)) {
    throw new IntegrityError(`segment ${name} is not a sealed Huizhen segment`, name);
  }
  const nonce = sealed.subarray(4, 4 + NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(4 + NONCE_BYTES, sealed.length - TAG_BYTES);
  const decipher = crypto.createDecipheriv('aes-256-gcm', dataKey, nonce);
  decipher.setAAD(aad(place));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new IntegrityError(`segment ${name} fails authentication (modified, truncated or out of place)`, name);
  }
}

export function sha256(data: Buffer | string): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}
