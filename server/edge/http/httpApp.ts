/**
 * The express application: request ids and logs, security headers, JSON
 * bodies with a size limit, health and metrics, the API, the browser client,
 * then the one error handler.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import express, { type Express } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from 'pino';
import type { Metrics } from '../../observability/metrics.ts';
import type { TokenIssuer } from '../auth/tokenIssuer.ts';
import type { TokenVerifier } from '../auth/tokenVerifier.ts';
import { errorHandler, notFoundHandler } from './errorHandler.ts';
import { securityHeaders } from './securityHeaders.ts';
import { devTokenRoutes } from './routes/devToken.ts';
import { healthRoutes, type HealthDeps } from './routes/health.ts';
import { infoRoutes } from './routes/info.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { sessionRoutes } from './routes/session.ts';
import { playbackRoutes } from './routes/playback.ts';
import { playRoutes } from './routes/plays.ts';
import { consultationRoutes } from './routes/consultations.ts';
import type { ApprovalService } from '../../domain/approvals/ApprovalService.ts';
import type { PlaybackService } from '../../domain/playback/PlaybackService.ts';

export interface HttpAppDeps {
  log: Logger;
  metrics: Metrics;
  verifier: TokenVerifier;
  health: HealthDeps;
  bodyLimitBytes: number;
  /** Bearer token required by /metrics, or null for none. */
  metricsToken: string | null;
  /** Present in development only: enables `/api/dev/token`. */
  devTokens: { issuer: TokenIssuer; ttlSeconds: number } | null;
  /** Built browser client (client/dist); served at `/` when present. */
  clientDir: string;
  approvals: ApprovalService;
  playback: PlaybackService;
  consultations: Omit<Parameters<typeof consultationRoutes>[0], 'verifier'>;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

export function createHttpApp(deps: HttpAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use(
    pinoHttp({
      logger: deps.log,
      // Honour a well-formed X-Request-Id from a reverse proxy, else mint one.
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : crypto.randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      // Method, path (no query string: it may carry identifiers), status.
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          path: req.url.split('?')[0],
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
    }),
  );

  app.use((req, res, next) => {
    const end = deps.metrics.httpRequests.startTimer({ method: req.method });
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? (res.statusCode === 404 ? 'unmatched' : 'static');
      end({ route, status: String(res.statusCode) });
    });
    next();
  });

  app.use(securityHeaders);
  app.use(express.json({ limit: deps.bodyLimitBytes, strict: true }));

  app.use(healthRoutes(deps.health));
  app.use(metricsRoutes(deps.metrics, deps.metricsToken));
  app.use(infoRoutes({ version: deps.health.version, devLogin: deps.devTokens !== null }));
  app.use(sessionRoutes(deps.verifier));
  app.use(playbackRoutes({ verifier: deps.verifier, approvals: deps.approvals, playback: deps.playback }));
  app.use(playRoutes(deps.playback));
  app.use(consultationRoutes({ verifier: deps.verifier, ...deps.consultations }));
  if (deps.devTokens) app.use(devTokenRoutes(deps.devTokens.issuer, deps.devTokens.ttlSeconds));

  app.use('/api', notFoundHandler);
  serveClient(app, deps.clientDir);
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}

function serveClient(app: Express, clientDir: string): void {
  const index = path.join(clientDir, 'index.html');
  app.use(express.static(clientDir, { index: false, maxAge: '1h', immutable: false }));
  app.get(['/', '/room', '/selftest', '/dev-login', '/review', '/approvals', '/player', '/consultations', '/consultation', '/directory', '/pharmacy'], (_req, res) => {
    if (!fs.existsSync(index)) {
      res
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('The browser client is not built. Run: bash scripts/setup.sh\n浏览器客户端尚未构建，请运行 bash scripts/setup.sh\n');
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
}
