import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { expect } from 'chai';
import { releaseRtpPortPair, reserveRtpPortPair, waitUntilBoundBy } from '../../server/domain/recordings/rtpPorts.ts';

describe('recorder RTP ports', () => {
  it('never hands the same port pair to two recorders starting at once', async () => {
    const ports = await Promise.all(Array.from({ length: 40 }, () => reserveRtpPortPair()));
    expect(new Set(ports).size).to.equal(ports.length);
    for (const port of ports) expect(port % 2).to.equal(0);
    ports.forEach(releaseRtpPortPair);
  });

  it('waits for the recorder’s own ffmpeg to hold the port, not for any process', async () => {
    const port = await reserveRtpPortPair();
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(port, '127.0.0.1', resolve));
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    const strangerExited = new Promise<void>((resolve) => stranger.once('close', () => resolve()));
    try {
      // The port is taken, but by this process, not by `stranger`.
      const error = await waitUntilBoundBy(stranger.pid!, port, strangerExited, 300).then(() => null, (e: unknown) => e);
      expect((error as Error).message).to.equal('ffmpeg did not start listening');
      await waitUntilBoundBy(process.pid, port, new Promise(() => undefined), 2000);
      // A recorder that dies before listening is reported at once.
      stranger.kill('SIGKILL');
      const exited = await waitUntilBoundBy(stranger.pid!, port, strangerExited, 5000).then(() => null, (e: unknown) => e);
      expect((exited as Error).message).to.equal('ffmpeg exited before listening');
    } finally {
      stranger.kill('SIGKILL');
      socket.close();
      releaseRtpPortPair(port);
    }
  });
});
