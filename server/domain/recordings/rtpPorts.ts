/**
 * Loopback UDP ports for the recorders' ffmpeg processes (RTP on an even
 * port, RTCP on the next one).
 *
 * A port pair is reserved inside this process from the moment it is chosen
 * until its recorder has stopped, so two tracks starting at once never get
 * the same pair; and a recorder is ready only when its own ffmpeg holds the
 * port (checked in /proc), not merely when "something" does — otherwise a
 * stranger on that port could receive a patient's media.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';

const reserved = new Set<number>();

/** Chooses and reserves an even port whose successor is free too. */
export async function reserveRtpPortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = 20000 + 2 * Math.floor(Math.random() * 10000);
    if (reserved.has(port)) continue;
    reserved.add(port); // before any await: a concurrent caller skips it
    if ((await udpFree(port)) && (await udpFree(port + 1))) return port;
    reserved.delete(port);
  }
  throw new Error('no free UDP port pair for recording');
}

export function releaseRtpPortPair(port: number): void {
  reserved.delete(port);
}

/**
 * Resolves once process `pid` has bound UDP `port`; rejects if `exited`
 * resolves first or after `timeoutMs`. Where /proc cannot tell (not Linux),
 * any binding of the port counts.
 */
export async function waitUntilBoundBy(pid: number, port: number, exited: Promise<void>, timeoutMs = 10_000): Promise<void> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const owner = processOwnsUdpPort(pid, port);
    if (owner === true || (owner === null && !(await udpFree(port)))) return;
    if (gone) throw new Error('ffmpeg exited before listening');
    if (Date.now() > deadline) throw new Error('ffmpeg did not start listening');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** true/false from /proc; null when /proc cannot tell. */
function processOwnsUdpPort(pid: number, port: number): boolean | null {
  const inodes = new Set<string>();
  let readable = false;
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
      readable = true;
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const inode = fields[9];
      if (!local || !inode) continue;
      if (Number.parseInt(local.split(':')[1] ?? '', 16) === port) inodes.add(inode);
    }
  }
  if (!readable) return null;
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false; // not (or no longer) running
  }
  for (const fd of fds) {
    try {
      const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}
