/**
 * Validators for every client → server request. mediasoup checks RTP
 * parameters in depth itself; these make sure the shape is right, sizes are
 * bounded, and that nothing unexpected reaches the domain layer.
 */
import { z } from 'zod';
import type { DtlsParameters, RtpCapabilities, RtpParameters } from 'mediasoup/types';
import { MAX_CHAT_LENGTH } from '../../domain/rooms/ChatLog.ts';
import { MEDIA_SOURCES } from '../../protocol/room.ts';
import type { RequestSchemas } from './requestRouter.ts';

const empty = z.strictObject({});

/** mediasoup ids are UUIDs. */
const mediaId = z.uuid();

const dtlsParameters = z.strictObject({
  role: z.enum(['auto', 'client', 'server']).optional(),
  fingerprints: z
    .array(
      z.strictObject({
        algorithm: z.enum(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']),
        value: z.string().regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){19,63}$/, 'must be a colon-separated hex fingerprint'),
      }),
    )
    .min(1)
    .max(5),
}) satisfies z.ZodType<DtlsParameters>;

const codecParameters = z
  .record(z.string().max(64), z.union([z.string().max(256), z.number()]))
  .refine((r) => Object.keys(r).length <= 32, 'at most 32 codec parameters');

const rtcpFeedback = z
  .array(z.strictObject({ type: z.string().max(32), parameter: z.string().max(32).optional() }))
  .max(32);

const rtpCodec = z.strictObject({
  mimeType: z.string().regex(/^(audio|video)\/[A-Za-z0-9.-]+$/, 'must look like audio/opus or video/VP8'),
  payloadType: z.int().min(0).max(127),
  clockRate: z.int().positive(),
  channels: z.int().min(1).max(8).optional(),
  parameters: codecParameters.optional(),
  rtcpFeedback: rtcpFeedback.optional(),
});

const encoding = z.strictObject({
  ssrc: z.int().min(0).max(0xffffffff).optional(),
  rid: z.string().max(32).optional(),
  codecPayloadType: z.int().min(0).max(127).optional(),
  rtx: z.strictObject({ ssrc: z.int().min(0).max(0xffffffff) }).optional(),
  dtx: z.boolean().optional(),
  scalabilityMode: z.string().max(16).optional(),
  scaleResolutionDownBy: z.number().min(1).max(64).optional(),
  maxBitrate: z.int().min(0).max(100_000_000).optional(),
  maxFramerate: z.number().min(0).max(120).optional(),
  adaptivePtime: z.boolean().optional(),
  priority: z.enum(['very-low', 'low', 'medium', 'high']).optional(),
  networkPriority: z.enum(['very-low', 'low', 'medium', 'high']).optional(),
  active: z.boolean().optional(),
});

const rtpParameters = z
  .strictObject({
    mid: z.string().max(32).optional(),
    codecs: z.array(rtpCodec).min(1).max(16),
    headerExtensions: z
      .array(
        z.strictObject({
          uri: z.string().max(256),
          id: z.int().min(1).max(255),
          encrypt: z.boolean().optional(),
          parameters: codecParameters.optional(),
        }),
      )
      .max(32)
      .optional(),
    encodings: z.array(encoding).max(8).optional(),
    rtcp: z
      .strictObject({ cname: z.string().max(256).optional(), reducedSize: z.boolean().optional(), mux: z.boolean().optional() })
      .optional(),
    msid: z.string().max(256).optional(),
  })
  .transform((v) => v as unknown as RtpParameters);

const rtpCapabilities = z
  .strictObject({
    codecs: z
      .array(
        z.strictObject({
          kind: z.enum(['audio', 'video']),
          mimeType: z.string().max(64),
          preferredPayloadType: z.int().min(0).max(127).optional(),
          clockRate: z.int().positive(),
          channels: z.int().min(1).max(8).optional(),
          parameters: codecParameters.optional(),
          rtcpFeedback: rtcpFeedback.optional(),
        }),
      )
      .max(64)
      .optional(),
    headerExtensions: z
      .array(
        z.strictObject({
          kind: z.enum(['audio', 'video']).optional(),
          uri: z.string().max(256),
          preferredId: z.int().min(1).max(255),
          preferredEncrypt: z.boolean().optional(),
          direction: z.enum(['sendrecv', 'sendonly', 'recvonly', 'inactive']).optional(),
        }),
      )
      .max(64)
      .optional(),
  })
  .transform((v) => v as unknown as RtpCapabilities);

const peerId = z.string().regex(/^p-[0-9a-f-]{36}$/, 'must be a participant id');
const source = z.enum(MEDIA_SOURCES);
const kind = z.enum(['audio', 'video']);

export const requestSchemas: RequestSchemas = {
  'session:whoami': empty,
  'selftest:start': empty,
  'selftest:connectTransport': z.strictObject({ transportId: mediaId, dtlsParameters }),
  'selftest:produce': z.strictObject({
    transportId: mediaId,
    kind: z.enum(['audio', 'video']),
    rtpParameters,
  }),
  'selftest:consume': z.strictObject({ producerId: mediaId, rtpCapabilities }),
  'selftest:resumeConsumer': z.strictObject({ consumerId: mediaId }),
  'selftest:stats': empty,
  'selftest:stop': empty,
  'session:refreshToken': z.strictObject({ token: z.string().min(1).max(8192) }),
  'room:join': z.strictObject({
    resume: z
      .strictObject({ peerId, resumeToken: z.string().regex(/^[A-Za-z0-9_-]{20,128}$/, 'must be a resume token') })
      .optional(),
  }),
  'room:setRtpCapabilities': z.strictObject({ rtpCapabilities }),
  'room:createTransport': z.strictObject({ direction: z.enum(['send', 'recv']) }),
  'room:connectTransport': z.strictObject({ transportId: mediaId, dtlsParameters }),
  'room:restartIce': z.strictObject({ transportId: mediaId }),
  'room:produce': z.strictObject({ transportId: mediaId, kind, source, rtpParameters }),
  'room:pauseProducer': z.strictObject({ producerId: mediaId }),
  'room:resumeProducer': z.strictObject({ producerId: mediaId }),
  'room:closeProducer': z.strictObject({ producerId: mediaId }),
  'room:resumeConsumer': z.strictObject({ consumerId: mediaId }),
  'room:pauseConsumer': z.strictObject({ consumerId: mediaId }),
  'room:setPreferredLayers': z.strictObject({
    consumerId: mediaId,
    spatialLayer: z.int().min(0).max(3),
    temporalLayer: z.int().min(0).max(3).optional(),
  }),
  'room:admit': z.strictObject({ peerId }),
  'room:deny': z.strictObject({ peerId }),
  'room:remove': z.strictObject({ peerId }),
  'room:end': empty,
  'room:leave': empty,
  'chat:send': z.strictObject({ text: z.string().min(1).max(MAX_CHAT_LENGTH * 2) }),
  'recording:giveConsent': z.strictObject({
    method: z.enum(['in_app', 'verbal_witnessed', 'written']),
    patientUserId: z.string().min(1).max(128).regex(/^[A-Za-z0-9._:@-]+$/, 'must be a user id').optional(),
    textVersion: z.string().min(1).max(64),
  }),
  'recording:withdrawConsent': empty,
  'recording:start': z.strictObject({
    categories: z.array(z.string().regex(/^[a-z][a-z0-9_]{1,39}$/, 'must be a category id')).max(10).optional(),
  }),
  'recording:stop': empty,
  'prescription:create': z.strictObject({
    items: z
      .array(
        z.strictObject({
          drug: z.string().trim().min(1).max(100),
          dose: z.string().trim().min(1).max(50),
          frequency: z.string().trim().min(1).max(50),
          days: z.int().min(1).max(90),
          quantity: z.string().trim().min(1).max(50),
        }),
      )
      .min(1)
      .max(20),
  }),
};
