/**
 * An RTP generator: replays a captured clip to a PlainTransport producer at
 * its original pace (from the RTP timestamps), under its own SSRC, looping
 * with sequence numbers and timestamps that run on, so the producer sees one
 * endless stream. Paced in 5 ms ticks.
 */
import dgram from 'node:dgram';
import type { Clip } from './clips.ts';

export interface Replayer {
  /** Packets sent so far. */
  readonly sent: number;
  stop(): void;
}

/**
 * `socket`: send from this socket (shared by the generators of one sender:
 * a comedia PlainTransport takes RTP from the first source address only).
 */
export function replay(clip: Clip, target: { ip: string; port: number }, ssrc: number, socket?: dgram.Socket): Replayer {
  const ownSocket = socket === undefined;
  const out = socket ?? dgram.createSocket('udp4');
  const first = clip.packets[0]!.readUInt32BE(4);
  const offsets = clip.packets.map((p) => ((p.readUInt32BE(4) - first) >>> 0) / clip.clockRate * 1000);
  const loopMs = (clip.durationTicks / clip.clockRate) * 1000;
  const baseSeq = clip.packets[0]!.readUInt16BE(2);
  const start = performance.now();
  let index = 0;
  let loop = 0;
  let sent = 0;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    const elapsed = performance.now() - start;
    while (loop * loopMs + offsets[index]! <= elapsed) {
      const source = clip.packets[index]!;
      const packet = Buffer.from(source);
      const n = loop * clip.packets.length + index;
      packet.writeUInt16BE((baseSeq + n) & 0xffff, 2);
      packet.writeUInt32BE((source.readUInt32BE(4) + loop * clip.durationTicks) >>> 0, 4);
      packet.writeUInt32BE(ssrc >>> 0, 8);
      out.send(packet, target.port, target.ip);
      sent += 1;
      index += 1;
      if (index === clip.packets.length) {
        index = 0;
        loop += 1;
      }
    }
  };
  const timer = setInterval(tick, 5);
  return {
    get sent() {
      return sent;
    },
    stop() {
      stopped = true;
      clearInterval(timer);
      if (ownSocket) out.close();
    },
  };
}
