/**
 * A recording's manifest: every sealed segment in the order it was sealed,
 * with the SHA-256 of its ciphertext, linked in a hash chain, and signed by
 * the server's manifest-signing key (RSA, node-forge). Verification detects
 * a missing, reordered, truncated or modified segment, and any change to
 * the manifest itself.
 */
import forge from 'node-forge';
import { canonicalJson } from '../../util/canonicalJson.ts';
import { IntegrityError, sha256 } from './sealing.ts';
import type { RecordingContainer } from './RecordingPolicy.ts';

export const MANIFEST_FORMAT = 'huizhen-recording-manifest/1' as const;
export const SIGNATURE_ALGORITHM = 'RSASSA-PKCS1-v1_5-SHA256' as const;
export const CHAIN_GENESIS = '0'.repeat(64);

export type StopReason = 'stopped' | 'visit_ended' | 'consent_withdrawn' | 'server_shutdown' | 'interrupted';

export interface ManifestTrack {
  trackId: string;
  /** Who was sending (role and user id from their token; no names). */
  role: string;
  userId: string;
  source: 'mic' | 'camera' | 'screen';
  kind: 'audio' | 'video';
  codec: string;
  container: RecordingContainer;
  /** When the track started and stopped, milliseconds after the recording started. */
  startOffsetMs: number;
  endOffsetMs: number | null;
  /** Scale-out: the series the track was recorded in (present when the recording ran in a cluster). */
  series?: number;
}

/** Scale-out: one node's stretch of a recording. */
export interface ManifestSeries {
  series: number;
  nodeId: string;
  startedAt: string;
  /** When that node stopped recording (for a lost node: its last sealed segment); null for the last series. */
  endedAt: string | null;
  /**
   * `node_lost`: the node died, the recording went on as the next series on
   * another node; `handed_over`: the node shut down and passed it on.
   */
  endReason: 'node_lost' | 'handed_over' | null;
}

/** A segment sealed on a node that was lost before it reached object storage. */
export interface LostSegment {
  seq: number;
  trackId: string;
  index: number;
  reason: 'node_lost';
}

export interface ManifestSegment {
  /** Position in sealing order across all tracks, from 1, without gaps. */
  seq: number;
  trackId: string;
  /** Position within its track, from 0. */
  index: number;
  objectKey: string;
  bytes: number;
  /** SHA-256 of the sealed bytes, hex. */
  sha256: string;
  /** sha256(previous chain | seq | trackId | index | sha256), hex. */
  chain: string;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  recordingId: string;
  roomId: string;
  status: 'complete' | 'interrupted';
  stopReason: StopReason;
  startedAt: string;
  endedAt: string;
  retainUntil: string;
  consent: { consentId: string; textVersion: string; method: string; consentedAt: string; patientUserId: string };
  policy: { segmentSeconds: number; retentionYears: number };
  encryption: { cipher: 'AES-256-GCM'; keyId: string; keyAlgorithm: string };
  tracks: ManifestTrack[];
  segments: ManifestSegment[];
  chainHead: string;
  /** Segments lost before they could be sealed (declared, so not mistaken for tampering). */
  gaps?: Array<{ trackId: string; index: number; reason: string }>;
  /**
   * Scale-out: the nodes the recording ran on, in order. Between a series
   * that ended `node_lost` and the next one the recording has a gap (from
   * its `endedAt` to the next `startedAt`), which export leaves silent.
   */
  series?: ManifestSeries[];
  /** Segments in the chain whose ciphertext was lost with their node: declared, so not mistaken for deletion. */
  lostSegments?: LostSegment[];
  /** For an interrupted recording: the last segment that was sealed before the stop. */
  lastGoodSegment?: { seq: number; trackId: string; index: number };
  signature?: { keyId: string; algorithm: typeof SIGNATURE_ALGORITHM; value: string };
}

export function chainLink(previous: string, s: Pick<ManifestSegment, 'seq' | 'trackId' | 'index' | 'sha256'>): string {
  return sha256(`${previous}|${s.seq}|${s.trackId}|${s.index}|${s.sha256}`);
}

export { canonicalJson };

export function signManifest(manifest: Omit<Manifest, 'signature'>, signer: { keyId: string; privateKey: forge.pki.rsa.PrivateKey }): Manifest {
  const md = forge.md.sha256.create();
  md.update(canonicalJson(manifest), 'utf8');
  const value = forge.util.encode64(signer.privateKey.sign(md));
  return { ...manifest, signature: { keyId: signer.keyId, algorithm: SIGNATURE_ALGORITHM, value } };
}

/**
 * Checks the manifest's signature and its hash chain. Throws IntegrityError
 * naming the first problem.
 */
export function verifyManifest(manifest: Manifest, publicKeyPem: string): void {
  const { signature, ...body } = manifest;
  if (!signature || signature.algorithm !== SIGNATURE_ALGORITHM) throw new IntegrityError('the manifest is not signed');
  const publicKey = forge.pki.publicKeyFromPem(publicKeyPem) as forge.pki.rsa.PublicKey;
  const md = forge.md.sha256.create();
  md.update(canonicalJson(body), 'utf8');
  let valid = false;
  try {
    valid = publicKey.verify(md.digest().bytes(), forge.util.decode64(signature.value));
  } catch {
    valid = false;
  }
  if (!valid) throw new IntegrityError('the manifest signature does not verify (the manifest was changed)');

  let chain = CHAIN_GENESIS;
  manifest.segments.forEach((segment, i) => {
    const name = `${segment.trackId}#${segment.index}`;
    if (segment.seq !== i + 1) throw new IntegrityError(`segment ${name} is out of order (seq ${segment.seq} at position ${i + 1})`, name);
    chain = chainLink(chain, segment);
    if (chain !== segment.chain) throw new IntegrityError(`the hash chain breaks at segment ${name}`, name);
  });
  if (chain !== manifest.chainHead) throw new IntegrityError('the hash chain does not end where the manifest says (segments missing at the end)');
  for (const lost of manifest.lostSegments ?? []) {
    const segment = manifest.segments[lost.seq - 1];
    if (!segment || segment.trackId !== lost.trackId || segment.index !== lost.index) {
      throw new IntegrityError(`the manifest declares segment ${lost.trackId}#${lost.index} lost, but its chain has no such segment`);
    }
  }

  // Within each track, indices run without gaps except those the manifest
  // declares (segments lost before sealing).
  const declared = new Set((manifest.gaps ?? []).map((g) => `${g.trackId}#${g.index}`));
  const trackIds = new Set(manifest.tracks.map((t) => t.trackId));
  const next = new Map<string, number>();
  for (const segment of manifest.segments) {
    const name = `${segment.trackId}#${segment.index}`;
    if (!trackIds.has(segment.trackId)) throw new IntegrityError(`segment ${name} belongs to no track of the manifest`, name);
    let expected = next.get(segment.trackId) ?? 0;
    while (declared.has(`${segment.trackId}#${expected}`)) expected += 1;
    if (segment.index !== expected) {
      const missing = `${segment.trackId}#${expected}`;
      throw new IntegrityError(`segment ${missing} is missing from the manifest and not declared as lost`, missing);
    }
    next.set(segment.trackId, expected + 1);
  }
}

/** The segments whose bytes should be in storage (all but those declared lost with their node). */
export function storedSegments(manifest: Pick<Manifest, 'segments' | 'lostSegments'>): ManifestSegment[] {
  const lost = new Set((manifest.lostSegments ?? []).map((l) => l.seq));
  return manifest.segments.filter((s) => !lost.has(s.seq));
}

/** Checks one segment's sealed bytes against the manifest. */
export function verifySegmentBytes(segment: ManifestSegment, sealed: Buffer | null): void {
  const name = `${segment.trackId}#${segment.index}`;
  if (!sealed) throw new IntegrityError(`segment ${name} is missing from storage`, name);
  if (sealed.length !== segment.bytes) {
    throw new IntegrityError(`segment ${name} has ${sealed.length} bytes, the manifest says ${segment.bytes} (truncated or replaced)`, name);
  }
  if (sha256(sealed) !== segment.sha256) throw new IntegrityError(`segment ${name} was modified (SHA-256 differs)`, name);
}
