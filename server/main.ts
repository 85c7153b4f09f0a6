/**
 * `npm start`: loads the configuration, starts Huizhen, prints where to open
 * it, and shuts down in order on SIGINT/SIGTERM (a second signal forces the
 * exit). Configuration problems are printed one per line and exit with 2.
 */
import { startHuizhen, type HuizhenServer } from './app.ts';
import { ConfigError, loadConfig, maskConfig, type Config } from './config/index.ts';
import { createLogger } from './observability/logger.ts';
import { KeyFileError } from './pki/keyFiles.ts';
import { PolicyError } from './config/policyFile.ts';

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

const log = createLogger(config.log.level);
log.info({ config: maskConfig(config) }, 'configuration loaded');

let starting: Promise<HuizhenServer> | undefined;
let stopping = false;

async function stop(signal: string, exitCode: number): Promise<void> {
  if (stopping) {
    log.warn({ signal }, 'second signal: exiting without waiting for shutdown');
    process.exit(1);
  }
  stopping = true;
  log.info({ signal }, 'shutting down');
  // A signal during start-up waits for the start to finish (or fail, which
  // closes what it opened) and then shuts down in order.
  const server = await starting?.catch(() => undefined);
  const report = await server?.close();
  process.exitCode = report && report.failed.length > 0 ? 1 : exitCode;
  // Anything still holding the loop open after an orderly shutdown is a bug;
  // do not let it keep a stopped server alive.
  setTimeout(() => process.exit(), 2000).unref();
}

process.on('SIGINT', () => void stop('SIGINT', 0));
process.on('SIGTERM', () => void stop('SIGTERM', 0));
process.on('unhandledRejection', (reason) => {
  log.error({ err: reason }, 'unhandled promise rejection');
});
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'uncaught exception; shutting down');
  void stop('uncaughtException', 1);
});

let server: HuizhenServer;
try {
  starting = startHuizhen(config, { log });
  server = await starting;
} catch (err) {
  if (err instanceof KeyFileError) {
    log.fatal({ problem: err.message }, 'cannot start: key material');
    process.stderr.write(`Cannot start: ${err.message}\n`);
  } else if (err instanceof PolicyError) {
    log.fatal({ problems: err.problems }, 'cannot start: policy file');
    process.stderr.write(`Cannot start: ${err.message}\n`);
  } else {
    log.fatal({ err }, 'cannot start');
    process.stderr.write(`Cannot start: ${(err as Error).message}\n`);
  }
  process.exit(stopping ? 0 : 1);
}

if (!stopping) {
  const lines = [
    '',
    `  会诊 Huizhen is running: ${server.url}`,
    config.env === 'development'
      ? `  Development mode: sign in at ${server.url}/dev-login (certificate issued by ${config.dataDir}/keys/dev-ca.crt.pem)`
      : '  Production mode.',
    '  Stop with Ctrl+C.',
    '',
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}
