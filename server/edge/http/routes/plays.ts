/**
 * A play session's media and events. A <video> element cannot send an
 * Authorization header, so these carry the session's own capability in
 * `?t=` (never logged: request logs keep the path only) and, as well, the
 * HttpOnly, SameSite=Strict cookie the session's start set for this path:
 * the URL copied out of the page opens nothing. Each request re-checks the
 * grant.
 *
 *   GET    /api/plays/:id/media?t=…    the media, one byte range per request (206, ≤ 2 MiB)
 *   GET    /api/plays/:id/events?t=…   server-sent events: revoked | expired | ended
 *   DELETE /api/plays/:id?t=…          the viewer closed the player
 */
import { Router, type Request } from 'express';
import { PLAY_COOKIE, RangeNotSatisfiableError, type PlaybackService } from '../../../domain/playback/PlaybackService.ts';
import { NotFoundError } from '../../../errors.ts';

/** One cookie's value from the Cookie header (no cookie-parsing dependency for one name). */
function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function sessionOf(playback: PlaybackService, req: Request) {
  const token = req.query['t'];
  if (typeof token !== 'string' || token.length > 100) throw new NotFoundError('no such play session');
  const cookie = cookieOf(req, PLAY_COOKIE);
  return playback.session(String(req.params['id']), token, cookie !== undefined && cookie.length <= 100 ? cookie : undefined);
}

export function playRoutes(playback: PlaybackService): Router {
  const router = Router();

  router.get('/api/plays/:id/media', async (req, res) => {
    const session = sessionOf(playback, req);
    let answer;
    try {
      answer = await playback.range(session, req.headers.range);
    } catch (err) {
      if (err instanceof RangeNotSatisfiableError) {
        res.status(416).setHeader('Content-Range', `bytes */${err.size}`).end();
        return;
      }
      throw err;
    }
    const { status, start, end, size, contentType, body } = answer;
    // The grant may have been revoked (or the session ended) while the range was being prepared.
    if (session.ended) {
      body.destroy();
      playback.assertOpen(session);
    }
    res.status(status);
    res.setHeader('Content-Type', contentType);
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Length', String(end - start + 1));
    res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    res.setHeader('Content-Disposition', 'inline');
    res.setHeader('Cache-Control', 'no-store, private');
    let sent = 0;
    body.on('data', (chunk: Buffer) => {
      sent += chunk.length;
    });
    const release = playback.track(session, {
      destroy: () => {
        body.destroy();
        res.destroy();
      },
    });
    res.once('close', () => {
      release();
      body.destroy();
      playback.rangeServed(session, { start, end, bytesSent: sent, completed: res.writableFinished });
    });
    body.pipe(res);
  });

  router.get('/api/plays/:id/events', (req, res) => {
    const session = sessionOf(playback, req);
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.flushHeaders();
    res.write(': connected\n\n');
    const listener = (event: { type: string }) => {
      res.write(`event: ${event.type}\ndata: {}\n\n`);
      res.end();
    };
    session.listeners.add(listener);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    keepAlive.unref();
    res.once('close', () => {
      clearInterval(keepAlive);
      session.listeners.delete(listener);
    });
  });

  router.delete('/api/plays/:id', (req, res) => {
    playback.endSession(sessionOf(playback, req));
    res.status(204).end();
  });

  return router;
}
