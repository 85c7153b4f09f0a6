/**
 * A finished recording for playback tests, made the fast way: a host (with
 * a department) and a patient in a room, consent in the app, RTP from
 * ffmpeg standing in for their browsers, then stop and wait until the
 * manifest is in object storage.
 */
import { injectMedia } from './rtpSource.ts';
import type { RoomFixture } from './roomFixture.ts';

export interface RecordedVisit {
  recordingId: string;
  roomId: string;
  hostUserId: string;
  patientUserId: string;
}

export async function recordVisit(
  fx: RoomFixture,
  options: { seconds?: number; department?: string; categories?: string[]; host?: string; patient?: string; hostVideoBitrate?: string } = {},
): Promise<RecordedVisit> {
  const server = fx.server;
  fx.next();
  const hostUserId = options.host ?? 'dr-li';
  const patientUserId = options.patient ?? 'pt-wang';
  const host = await fx.client('host', hostUserId, options.department ? { dept: options.department } : {});
  await host.join();
  const patient = await fx.client('patient', patientUserId);
  await patient.join();
  await host.request('room:admit', { peerId: patient.peerId });
  const admitted = await patient.waitFor('room:admitted');
  await patient.request('recording:giveConsent', { method: 'in_app', textVersion: admitted.consentText.version });
  await host.waitFor('room:consent', (c) => c.state === 'given');
  await host.request('recording:start', options.categories ? { categories: options.categories } : {});
  const recordingId = server.recordings.activeRecordingId(fx.room)!;
  const room = server.rooms.get(fx.room)!;
  const seconds = options.seconds ?? 6;
  const hostMedia = await injectMedia(room, { peerId: host.peerId, userId: hostUserId, role: 'host' }, { seconds, ssrcBase: 3000, ...(options.hostVideoBitrate ? { videoBitrate: options.hostVideoBitrate } : {}) });
  const patientMedia = await injectMedia(room, { peerId: patient.peerId, userId: patientUserId, role: 'patient' }, { seconds, ssrcBase: 4000 });
  await Promise.all([hostMedia.done, patientMedia.done]);
  await host.request('recording:stop', {});
  hostMedia.stop();
  patientMedia.stop();
  await server.recordings.finalized(recordingId);
  await host.request('room:leave', {});
  await patient.request('room:leave', {}).catch(() => undefined);
  return { recordingId, roomId: fx.room, hostUserId, patientUserId };
}
