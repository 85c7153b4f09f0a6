/**
 * Reading recordings back: the signed manifest, verification of every
 * segment against it, decryption with the unwrapped data key, and export
 * of all tracks into one playable Matroska file (for authorised operators;
 * tiered-approval playback builds on the same code).
 *
 * Nothing is decrypted before the manifest's signature and hash chain have
 * been verified, and each segment is checked against its SHA-256 and its
 * authentication tag before its plaintext is used.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KeyEncryptionService } from '../../pki/KeyEncryptionService.ts';
import { NotFoundError } from '../../errors.ts';
import type { ObjectStore } from '../../storage/objects/ObjectStore.ts';
import type { RecordingRepository } from '../../storage/repositories/RecordingRepository.ts';
import { storedSegments, verifyManifest, verifySegmentBytes, type Manifest, type ManifestSegment, type ManifestTrack } from './manifest.ts';
import { manifestObjectKey } from './Recording.ts';
import { IntegrityError, openSegment } from './sealing.ts';

export interface ArchiveDeps {
  store: ObjectStore;
  repository: RecordingRepository;
  kek: KeyEncryptionService;
  /** The PEM public key of a manifest-signing key id (key registry), or null when unknown. */
  manifestKey: (keyId: string) => Promise<string | null>;
}

export interface VerifiedRecording {
  manifest: Manifest;
  dataKey: Buffer;
}

export class RecordingArchive {
  readonly #deps: ArchiveDeps;

  constructor(deps: ArchiveDeps) {
    this.#deps = deps;
  }

  async manifest(recordingId: string): Promise<Manifest> {
    let raw: Buffer;
    try {
      raw = await this.#deps.store.getBuffer(manifestObjectKey(recordingId));
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(`recording ${recordingId} has no manifest in storage (not finalised, or destroyed)`);
      throw err;
    }
    let manifest: Manifest;
    try {
      manifest = JSON.parse(raw.toString('utf8')) as Manifest;
    } catch {
      throw new IntegrityError('the manifest is not valid JSON');
    }
    if (manifest.recordingId !== recordingId) throw new IntegrityError('the manifest belongs to another recording');
    const keyId = manifest.signature?.keyId;
    const publicKey = keyId ? await this.#deps.manifestKey(keyId) : null;
    if (!publicKey) throw new IntegrityError(`the manifest's signing key ${keyId ?? '(none)'} is not known`);
    verifyManifest(manifest, publicKey);
    // A validly signed but older manifest of the same recording (an earlier
    // finalisation, an old object version) must not pass for the final one:
    // the database holds the chain head the recording ended with.
    const stored = await this.#deps.repository.get(recordingId);
    if (!stored) throw new NotFoundError(`recording ${recordingId} is not known to this database`);
    if (stored.chainHead !== manifest.chainHead) {
      throw new IntegrityError('the manifest does not end where the recording ended (an older or substituted manifest)');
    }
    return manifest;
  }

  /** Verifies the manifest and every segment in storage (no decryption). Throws on the first problem. */
  async verify(recordingId: string): Promise<Manifest> {
    const manifest = await this.manifest(recordingId);
    for (const segment of storedSegments(manifest)) verifySegmentBytes(segment, await this.#fetch(segment));
    return manifest;
  }

  /** The verified manifest and the recording's data key. */
  async open(recordingId: string): Promise<VerifiedRecording> {
    const manifest = await this.manifest(recordingId);
    const wrapped = await this.#deps.repository.wrappedKey(recordingId);
    if (!wrapped) throw new NotFoundError(`the key of recording ${recordingId} no longer exists (destroyed after retention)`);
    const dataKey = await this.#deps.kek.unwrap({ keyId: wrapped.keyId, algorithm: wrapped.algorithm as 'RSA-OAEP-256', wrapped: wrapped.wrapped });
    return { manifest, dataKey };
  }

  /** One segment, checked against the manifest and decrypted. */
  async plaintextSegment(recording: VerifiedRecording, segment: ManifestSegment): Promise<Buffer> {
    const sealed = await this.#fetch(segment);
    verifySegmentBytes(segment, sealed);
    return openSegment(recording.dataKey, { recordingId: recording.manifest.recordingId, trackId: segment.trackId, index: segment.index }, sealed as Buffer);
  }

  /**
   * Decrypts every track and muxes them, each at its start offset, with a
   * mix of all audio first, into one WebM (or Matroska, for H.264) file at
   * `outFile` (see muxArguments). Plaintext exists only in a private temporary
   * folder (in RAM where /dev/shm exists) during the export and in the
   * output the operator asked for. An export that fails or is aborted
   * (`signal`, e.g. Ctrl-C) leaves neither behind.
   */
  async export(recordingId: string, outFile: string, options: { signal?: AbortSignal } = {}): Promise<{ manifest: Manifest; tracks: ManifestTrack[]; format: ExportFormat }> {
    const recording = await this.open(recordingId);
    const { manifest } = recording;
    const { signal } = options;
    const work = fs.mkdtempSync(path.join(privateTempRoot(), 'huizhen-export-'));
    fs.chmodSync(work, 0o700);
    const ffmpeg = (args: string[]) => runFfmpeg(args, signal);
    try {
      const inputs: Array<{ track: ManifestTrack; file: string }> = [];
      for (const track of manifest.tracks) {
        const segments = storedSegments(manifest).filter((s) => s.trackId === track.trackId).sort((a, b) => a.index - b.index);
        if (segments.length === 0) continue;
        const extension = track.container === 'webm' ? 'webm' : 'mkv';
        const list: string[] = [];
        for (const segment of segments) {
          signal?.throwIfAborted();
          const file = path.join(work, `${track.trackId}-${String(segment.index).padStart(6, '0')}.${extension}`);
          fs.writeFileSync(file, await this.plaintextSegment(recording, segment), { mode: 0o600 });
          list.push(`file '${file}'`);
        }
        const listFile = path.join(work, `${track.trackId}.txt`);
        fs.writeFileSync(listFile, `${list.join('\n')}\n`);
        const joined = path.join(work, `${track.trackId}.${extension}`);
        await ffmpeg(['-f', 'concat', '-safe', '0', '-i', listFile, '-c', 'copy', joined]);
        inputs.push({ track, file: joined });
      }
      if (inputs.length === 0) throw new NotFoundError('the recording has no media');
      const format = exportFormat(inputs.map((i) => i.track));
      try {
        await ffmpeg([...muxArguments(inputs), '-f', format, outFile]);
      } catch (err) {
        fs.rmSync(outFile, { force: true });
        throw err;
      }
      return { manifest, tracks: inputs.map((i) => i.track), format };
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }

  async #fetch(segment: ManifestSegment): Promise<Buffer | null> {
    try {
      return await this.#deps.store.getBuffer(segment.objectKey);
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }
}

export type ExportFormat = 'webm' | 'matroska';

/** WebM when every track's codec fits it (VP8, Opus): browsers play it; Matroska otherwise (H.264). */
export function exportFormat(tracks: readonly ManifestTrack[]): ExportFormat {
  return tracks.every((t) => t.container === 'webm') ? 'webm' : 'matroska';
}

export function exportContentType(format: ExportFormat): string {
  return format === 'webm' ? 'video/webm' : 'video/x-matroska';
}

/**
 * ffmpeg arguments that mux the joined tracks into one file: first a mix of
 * every audio track (each delayed by its start offset; Opus), so that a
 * player, which plays one audio track, lets the reviewer hear everyone; then
 * every original track, copied, at its offset. The output is bit-exact: the
 * same recording always exports to the same bytes, so playback ranges and
 * the export tool agree byte for byte.
 */
function muxArguments(inputs: ReadonlyArray<{ track: ManifestTrack; file: string }>): string[] {
  const args: string[] = [];
  for (const { track, file } of inputs) args.push('-itsoffset', (track.startOffsetMs / 1000).toFixed(3), '-i', file);
  const audio = inputs.map((input, i) => ({ ...input, i })).filter(({ track }) => track.kind === 'audio');
  const out: string[] = [];
  if (audio.length > 0) {
    // Each input already sits at its offset (-itsoffset); first_pts=0 fills
    // the time before it with silence, so the mix shares the tracks' timeline.
    const chains = audio.map(({ i }, k) => `[${i}:a]aresample=async=1:first_pts=0[a${k}]`);
    const mix = `${audio.map((_, k) => `[a${k}]`).join('')}amix=inputs=${audio.length}:duration=longest:normalize=0[mix]`;
    args.push('-filter_complex', [...chains, mix].join(';'));
    out.push('-map', '[mix]');
  }
  inputs.forEach((_, i) => out.push('-map', String(i)));
  args.push(...out, '-c', 'copy');
  const offset = audio.length > 0 ? 1 : 0;
  if (audio.length > 0) args.push('-c:a:0', 'libopus', '-b:a:0', '64k', '-metadata:s:0', 'title=mixed audio (all participants)', '-disposition:0', 'default');
  let firstVideo = true;
  inputs.forEach(({ track }, i) => {
    args.push(`-metadata:s:${i + offset}`, `title=${track.role} ${track.source} (${track.userId})`);
    const isDefault = track.kind === 'video' && firstVideo;
    if (isDefault) firstVideo = false;
    args.push(`-disposition:${i + offset}`, isDefault ? 'default' : '0');
  });
  args.push('-fflags', '+bitexact', '-flags:v', '+bitexact', '-flags:a', '+bitexact');
  return args;
}

/** RAM-backed /dev/shm where it is usable, else the system temporary folder. */
function privateTempRoot(): string {
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

function runFfmpeg(args: string[], signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    const abort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', abort, { once: true });
    child.once('error', reject);
    child.once('close', (code) => {
      signal?.removeEventListener('abort', abort);
      if (signal?.aborted) reject(signal.reason as Error);
      else if (code === 0) resolve();
      else reject(new Error(`ffmpeg failed (${code}): ${stderr.trim()}`));
    });
  });
}
