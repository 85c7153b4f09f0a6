/**
 * ObjectStore over @aws-sdk/client-s3: MinIO, Ceph, a cloud S3 in the
 * hospital's region, or the embedded loopback server.
 *
 * Checksums default to WHEN_REQUIRED: with WHEN_SUPPORTED the SDK sends a
 * streamed body with aws-chunked framing and a trailing checksum, which some
 * S3-protocol servers store verbatim as object bytes (silent corruption).
 */
import { Readable } from 'node:stream';
import {
  S3Client,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  HeadBucketCommand,
  CreateBucketCommand,
  GetObjectLockConfigurationCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { NotFoundError, ServiceUnavailableError, ValidationError } from '../../errors.ts';
import type { ByteRange, ObjectInfo, ObjectStore, PutOptions } from './ObjectStore.ts';

export interface S3ObjectStoreOptions {
  endpoint?: string;
  region: string;
  bucket: string;
  prefix: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  checksumMode: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
  requestTimeoutMs: number;
}

export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly #prefix: string;
  readonly #client: S3Client;
  #closed = false;

  constructor(options: S3ObjectStoreOptions) {
    this.bucket = options.bucket;
    this.#prefix = options.prefix;
    this.#client = new S3Client({
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      ...(options.credentials ? { credentials: options.credentials } : {}),
      requestChecksumCalculation: options.checksumMode,
      responseChecksumValidation: options.checksumMode,
      maxAttempts: 2,
      requestHandler: {
        requestTimeout: options.requestTimeoutMs,
        connectionTimeout: Math.min(options.requestTimeoutMs, 5000),
      },
    });
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<{ etag: string | null }> {
    const length = Buffer.isBuffer(body) ? body.length : options.contentLength;
    if (length === undefined) throw new ValidationError('contentLength is required for a streamed object body');
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: this.#key(key),
      Body: body,
      ContentLength: length,
      ContentType: options.contentType ?? 'application/octet-stream',
      Metadata: options.metadata,
      ...(options.retainUntil ? { ObjectLockMode: 'COMPLIANCE' as const, ObjectLockRetainUntilDate: options.retainUntil } : {}),
    });
    const out = await this.#call(key, () => this.#client.send(command));
    return { etag: out.ETag ?? null };
  }

  async get(key: string, range?: ByteRange): Promise<{ body: Readable; size: number; contentRange: string | null }> {
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.#key(key),
      Range: range ? `bytes=${range.start}-${range.end ?? ''}` : undefined,
    });
    const out = await this.#call(key, () => this.#client.send(command));
    if (!(out.Body instanceof Readable)) throw new ServiceUnavailableError('object store returned no body');
    return { body: out.Body, size: out.ContentLength ?? 0, contentRange: out.ContentRange ?? null };
  }

  async getBuffer(key: string): Promise<Buffer> {
    const { body } = await this.get(key);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const command = new HeadObjectCommand({ Bucket: this.bucket, Key: this.#key(key) });
      const out = await this.#call(key, () => this.#client.send(command));
      return {
        key,
        size: out.ContentLength ?? 0,
        lastModified: out.LastModified ?? null,
        etag: out.ETag ?? null,
      };
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const command = new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: this.#key(prefix),
        ContinuationToken: token,
      });
      const out = await this.#call(prefix, () => this.#client.send(command));
      for (const o of out.Contents ?? []) {
        if (!o.Key) continue;
        yield {
          key: o.Key.slice(this.#prefix.length),
          size: o.Size ?? 0,
          lastModified: o.LastModified ?? null,
          etag: o.ETag ?? null,
        };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    const command = new DeleteObjectCommand({ Bucket: this.bucket, Key: this.#key(key) });
    await this.#call(key, () => this.#client.send(command));
  }

  async ensureBucket(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) {
        const command = new CreateBucketCommand({ Bucket: this.bucket });
        await this.#call(this.bucket, () => this.#client.send(command));
        return;
      }
      throw new ServiceUnavailableError('object store is unreachable', { cause: err });
    }
  }

  async objectLockEnabled(): Promise<boolean> {
    try {
      const out = await this.#client.send(new GetObjectLockConfigurationCommand({ Bucket: this.bucket }));
      return out.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
    } catch {
      // Not configured, or a server without Object Lock (the embedded one).
      return false;
    }
  }

  async ping(timeoutMs = 2000): Promise<void> {
    const abort = AbortSignal.timeout(timeoutMs);
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: abort });
    } catch (err) {
      throw new ServiceUnavailableError('object store is unreachable', { cause: err });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.destroy();
  }

  #key(key: string): string {
    if (key.startsWith('/') || key.split('/').includes('..')) {
      throw new ValidationError('object keys must be relative and must not contain ".."');
    }
    return this.#prefix + key;
  }

  /** Runs one SDK call, mapping "no such key" to NotFoundError and everything else to 503. */
  async #call<T>(key: string, send: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new ServiceUnavailableError('object store client is closed');
    try {
      return await send();
    } catch (err) {
      if (err instanceof S3ServiceException) {
        const status = err.$metadata.httpStatusCode;
        if (status === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound') {
          throw new NotFoundError(`object ${key} does not exist`);
        }
      }
      throw new ServiceUnavailableError('object store request failed', { cause: err });
    }
  }
}
