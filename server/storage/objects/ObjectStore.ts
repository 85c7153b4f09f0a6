/**
 * Object storage as the rest of Huizhen sees it. Keys are relative to the
 * configured prefix. Everything Huizhen writes here is already encrypted by
 * the domain layer; the store only moves bytes.
 */
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date | null;
  etag: string | null;
}

export interface PutOptions {
  contentType?: string;
  /** Required when the body is a stream. */
  contentLength?: number;
  metadata?: Record<string, string>;
  /** S3 Object Lock (compliance mode): the object cannot be deleted before this. */
  retainUntil?: Date;
}

/** Inclusive byte range, like HTTP Range. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface ObjectStore {
  put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<{ etag: string | null }>;
  /** The object (or a range of it) as a stream; NotFoundError when absent. */
  get(key: string, range?: ByteRange): Promise<{ body: Readable; size: number; contentRange: string | null }>;
  getBuffer(key: string): Promise<Buffer>;
  /** null when absent. */
  head(key: string): Promise<ObjectInfo | null>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Succeeds when the key is already absent. */
  delete(key: string): Promise<void>;
  /** Creates the bucket when it does not exist. */
  ensureBucket(): Promise<void>;
  /** Whether the bucket has Object Lock enabled (retention can be set per object). */
  objectLockEnabled(): Promise<boolean>;
  /** Resolves when the bucket answers within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}
