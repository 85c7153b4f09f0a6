/**
 * The embedded S3-protocol server (s3rver) for setups without MinIO or a
 * cloud store: listens on loopback only, keeps objects under
 * `<dataDir>/objects`. Huizhen still talks to it through the real S3 client,
 * so the code path is the one production uses.
 */
import fs from 'node:fs';
import S3rver from 's3rver';

export interface EmbeddedS3Options {
  directory: string;
  port: number;
  bucket: string;
}

export const EMBEDDED_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export class EmbeddedS3Server {
  readonly #server: S3rver;
  #endpoint: string | undefined;
  #closed: Promise<void> | undefined;

  private constructor(server: S3rver) {
    this.#server = server;
  }

  static async start(options: EmbeddedS3Options): Promise<EmbeddedS3Server> {
    fs.mkdirSync(options.directory, { recursive: true, mode: 0o700 });
    const server = new S3rver({
      address: '127.0.0.1',
      port: options.port,
      directory: options.directory,
      silent: true,
      configureBuckets: [{ name: options.bucket, configs: [] }],
    });
    const embedded = new EmbeddedS3Server(server);
    const address = await server.run();
    embedded.#endpoint = `http://127.0.0.1:${address.port}`;
    return embedded;
  }

  get endpoint(): string {
    if (!this.#endpoint) throw new Error('embedded S3 server is not running');
    return this.#endpoint;
  }

  close(): Promise<void> {
    this.#closed ??= this.#server.close().then(() => undefined);
    return this.#closed;
  }
}
