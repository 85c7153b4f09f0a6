/**
 * The server describes RTP with mediasoup's (server) types; mediasoup-client
 * declares the same structures with a narrower list of header-extension
 * URIs. At run time mediasoup-client ignores extensions it does not know
 * (e.g. `toffset`), so the values are passed through as they are; this is
 * the one place where the two type families meet.
 */
import type { RtpCapabilities as ServerRtpCapabilities } from 'mediasoup/types';
import type { ConsumerOptions as ClientConsumerOptions, RtpCapabilities } from 'mediasoup-client/types';
import type { ConsumerOptions } from '../../../server/protocol/socketEvents.ts';
import type { ConsumerInfo } from '../../../server/protocol/room.ts';

export function clientRtpCapabilities(caps: ServerRtpCapabilities): RtpCapabilities {
  return caps as unknown as RtpCapabilities;
}

export function clientConsumerOptions(options: ConsumerOptions): ClientConsumerOptions {
  return options as unknown as ClientConsumerOptions;
}

/** A room consumer as mediasoup-client's `Transport.consume()` options. */
export function clientRoomConsumerOptions(info: ConsumerInfo): ClientConsumerOptions {
  return {
    id: info.consumerId,
    producerId: info.producerId,
    kind: info.kind,
    rtpParameters: info.rtpParameters as unknown as ClientConsumerOptions['rtpParameters'],
    appData: { peerId: info.peerId, source: info.source },
  };
}
