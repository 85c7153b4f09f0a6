/**
 * WebRTC transport settings from configuration: UDP preferred, TCP as the
 * fallback for networks that block UDP (common on hospital LANs), both on
 * the configured address and port range, with the announced address put in
 * ICE candidates when clients reach the server through NAT.
 */
import type { Router, TransportListenInfo, WebRtcTransport } from 'mediasoup/types';
import type { Config } from '../config/index.ts';
import type { TransportOptions } from '../protocol/socketEvents.ts';

export interface MediaNetwork {
  listenIp: string;
  announcedAddress?: string;
  portRange: { min: number; max: number };
}

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
