import { Device, detectDeviceAsync } from 'mediasoup-client';
import type { RtpCapabilities } from 'mediasoup-client/types';

/**
 * A loaded mediasoup-client Device. Headless Chromium reports itself as
 * "HeadlessChrome", which detection does not recognise: fall back to the
 * current Chrome handler.
 */
export async function loadDevice(routerRtpCapabilities: RtpCapabilities): Promise<Device> {
  const handlerName = (await detectDeviceAsync()) ?? 'Chrome111';
  const device = new Device({ handlerName });
  await device.load({ routerRtpCapabilities });
  return device;
}
