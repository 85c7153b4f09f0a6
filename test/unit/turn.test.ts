import crypto from 'node:crypto';
import { expect } from 'chai';
import { iceServersFor } from '../../server/media/turn.ts';

describe('TURN credentials (coturn use-auth-secret)', () => {
  const settings = { urls: ['turn:turn.hospital.local:3478?transport=udp'], secret: 'shared-secret-0123456789', credentialTtlSeconds: 3600 };

  it('derives per-user credentials that expire, as coturn verifies them', () => {
    const now = Date.UTC(2026, 10, 23, 8, 0, 0);
    const [server] = iceServersFor(settings, 'dr-li', now);
    expect(server?.urls).to.deep.equal(settings.urls);
    expect(server?.username).to.equal(`${now / 1000 + 3600}:dr-li`);
    const expected = crypto.createHmac('sha1', settings.secret).update(server?.username ?? '').digest('base64');
    expect(server?.credential).to.equal(expected);
    // Another user gets another credential; the secret itself never leaves.
    const [other] = iceServersFor(settings, 'pt-wang', now);
    expect(other?.credential).not.to.equal(server?.credential);
    expect(JSON.stringify(server)).not.to.include(settings.secret);
  });

  it('hands out nothing when no TURN server is configured', () => {
    expect(iceServersFor({ urls: [], credentialTtlSeconds: 3600 }, 'dr-li')).to.deep.equal([]);
  });
});
