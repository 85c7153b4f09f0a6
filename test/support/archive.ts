/**
 * The recording archive as an operator opens it from outside a server:
 * the database, the S3-protocol server the test started, and the key
 * directory (for verify, decrypt and export in tests of other processes).
 */
import { RecordingArchive } from '../../server/domain/recordings/RecordingArchive.ts';
import { LocalRsaKeyService } from '../../server/pki/KeyEncryptionService.ts';
import type { Database } from '../../server/storage/db/index.ts';
import { EMBEDDED_S3_CREDENTIALS, S3ObjectStore } from '../../server/storage/objects/index.ts';
import { KeyRegistry } from '../../server/storage/repositories/KeyRegistry.ts';
import { RecordingRepository } from '../../server/storage/repositories/RecordingRepository.ts';

export function archiveFor(db: Database, s3Endpoint: string, keysDir: string): RecordingArchive {
  const registry = new KeyRegistry(db);
  return new RecordingArchive({
    store: new S3ObjectStore({
      endpoint: s3Endpoint,
      region: 'us-east-1',
      bucket: 'huizhen',
      prefix: '',
      forcePathStyle: true,
      credentials: { ...EMBEDDED_S3_CREDENTIALS },
      checksumMode: 'WHEN_REQUIRED',
      requestTimeoutMs: 5000,
    }),
    repository: new RecordingRepository(db),
    kek: LocalRsaKeyService.load(keysDir, { generate: false }),
    manifestKey: (keyId) => registry.publicKey(keyId, 'manifest-signing'),
  });
}
