/**
 * TURN servers for browsers behind restrictive firewalls (coturn with
 * `use-auth-secret`): each participant gets credentials of their own that
 * expire — username `<expiry>:<userId>`, password the base64 HMAC-SHA1 of
 * the username under the shared secret — so nothing long-lived reaches a
 * browser.
 */
import crypto from 'node:crypto';
import type { IceServer } from '../protocol/socketEvents.ts';

export interface TurnSettings {
  urls: string[];
  secret?: string;
  credentialTtlSeconds: number;
}

export function iceServersFor(settings: TurnSettings, userId: string, now = Date.now()): IceServer[] {
  if (settings.urls.length === 0 || !settings.secret) return [];
  const username = `${Math.floor(now / 1000) + settings.credentialTtlSeconds}:${userId}`;
  const credential = crypto.createHmac('sha1', settings.secret).update(username).digest('base64');
  return [{ urls: [...settings.urls], username, credential }];
}
