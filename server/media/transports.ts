/**
 * WebRTC transport settings from configuration: UDP preferred, TCP as the
 * fallback for networks that block UDP (common on hospital LANs), both on
 * the configured address and port range, with the announced address put in
 * ICE candidates when clients reach the server through NAT.
 */
import type { PlainTransport, Router, Transport, TransportListenInfo, WebRtcTransport } from 'mediasoup/types';
import type { Config } from '../config/index.ts';
import type { TransportOptions } from '../protocol/socketEvents.ts';

export interface MediaNetwork {
  listenIp: string;
  announcedAddress?: string;
  portRange: { min: number; max: number };
}

/** A participant's transport: WebRTC for a browser; plain RTP only where a factory makes it so. */
export type MediaTransport = WebRtcTransport | PlainTransport;

/**
 * How a room makes its participants' transports. Browsers get WebRTC
 * transports (the default: createWebRtcTransport). The forwarding benchmark
 * (bench/) substitutes PlainTransports wired to UDP sinks and RTP
 * generators, so that it can count packets forwarded through the room's own
 * code without a browser.
 */
/** Runs `listener` once when the transport closes (either kind). */
export function onTransportClose(transport: MediaTransport, listener: () => void): void {
  (transport as Transport).observer.once('close', listener);
}

export type TransportFactory = (router: Router, appData: { peerId: string; direction: 'send' | 'recv' }) => Promise<MediaTransport>;

export function mediaNetworkFromConfig(config: Config): MediaNetwork {
  return {
    listenIp: config.media.listenIp,
    ...(config.media.announcedAddress ? { announcedAddress: config.media.announcedAddress } : {}),
    portRange: { min: config.media.rtcMinPort, max: config.media.rtcMaxPort },
  };
}

export function listenInfos(network: MediaNetwork): TransportListenInfo[] {
  return (['udp', 'tcp'] as const).map((protocol) => ({
    protocol,
    ip: network.listenIp,
    ...(network.announcedAddress ? { announcedAddress: network.announcedAddress } : {}),
    portRange: network.portRange,
  }));
}

export async function createWebRtcTransport(
  router: Router,
  network: MediaNetwork,
  appData: Record<string, unknown> = {},
): Promise<WebRtcTransport> {
  return router.createWebRtcTransport({
    listenInfos: listenInfos(network),
    preferUdp: true,
    initialAvailableOutgoingBitrate: 600_000,
    appData,
  });
}

/** What the browser needs to build the matching mediasoup-client transport. */
export function transportOptions(transport: WebRtcTransport): TransportOptions {
  return {
    id: transport.id,
    iceParameters: transport.iceParameters,
    iceCandidates: transport.iceCandidates,
    dtlsParameters: transport.dtlsParameters,
  };
}
