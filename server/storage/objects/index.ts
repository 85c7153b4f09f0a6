import path from 'node:path';
import type { Config } from '../../config/index.ts';
import { EMBEDDED_S3_CREDENTIALS, EmbeddedS3Server } from './EmbeddedS3Server.ts';
import type { ObjectStore } from './ObjectStore.ts';
import { S3ObjectStore } from './S3ObjectStore.ts';

export type { ObjectStore, ObjectInfo, PutOptions, ByteRange } from './ObjectStore.ts';
export { S3ObjectStore, EmbeddedS3Server, EMBEDDED_S3_CREDENTIALS };

export interface OpenedObjectStore {
  store: ObjectStore;
  /** Set when Huizhen runs its own S3 server; closed after the store. */
  embedded: EmbeddedS3Server | null;
}

/**
 * The configured S3 endpoint, or an embedded S3 server on loopback with its
 * data under `<dataDir>/objects` when no endpoint is configured. Does not
 * contact the store: the caller decides whether an unreachable store stops
 * the boot.
 */
export async function openObjectStore(config: Config): Promise<OpenedObjectStore> {
  const o = config.objectStore;
  let embedded: EmbeddedS3Server | null = null;
  let endpoint = o.endpoint;
  let credentials =
    o.accessKeyId && o.secretAccessKey ? { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey } : undefined;

  if (!endpoint) {
    embedded = await EmbeddedS3Server.start({
      directory: path.join(config.dataDir, 'objects'),
      port: o.embeddedPort,
      bucket: o.bucket,
    });
    endpoint = embedded.endpoint;
    credentials = { ...EMBEDDED_S3_CREDENTIALS };
  }

  return {
    store: new S3ObjectStore({
    endpoint,
    region: o.region,
    bucket: o.bucket,
    prefix: o.prefix,
    forcePathStyle: embedded ? true : o.forcePathStyle,
    credentials,
    checksumMode: o.checksumMode,
    requestTimeoutMs: o.requestTimeoutMs,
    }),
    embedded,
  };
}
