/**
 * JSON logs (pino). Identifiers only: tokens, keys and patient data are
 * never logged. As a second line of defence, fields that commonly carry
 * credentials are redacted wherever they appear.
 */
import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'token',
  '*.token',
  'auth.token',
  'password',
  '*.password',
  'secretAccessKey',
  '*.secretAccessKey',
  'privateKey',
  '*.privateKey',
];

export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'huizhen' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
