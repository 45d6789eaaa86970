/**
 * @thicket/sdk: the device SDK for Thicket and AWS IoT Core (same protocol). The wire protocol alone
 * (topics, payloads) is also available as `@thicket/sdk/protocol`.
 */
export * from './protocol/index.js';
export * from './errors.js';
export { backoffDelay, type BackoffOptions } from './connection/backoff.js';
export { topicMatches } from './connection/topic-match.js';
export {
  customAuthUsername,
  mqttOptions,
  type CustomAuthOptions,
  type DeviceClientOptions,
  type SessionOptions,
  type TlsOptions,
  type WillOptions,
} from './connection/connection-options.js';
export {
  connectDevice,
  DeviceClient,
  type ConnectInfo,
  type DeviceClientEvents,
  type MessageHandler,
  type PublishOptions,
  type Subscription,
} from './connection/device-client.js';
export {
  OfflineQueue,
  type DropPolicy,
  type MessageProperties,
  type OfflineQueueOptions,
  type QueuedMessage,
} from './queue/offline-queue.js';
export { ShadowClient, type DeltaHandler, type DeltaOptions, type ShadowClientOptions } from './shadow/shadow-client.js';
export { JobsClient, type JobsClientOptions } from './jobs/jobs-client.js';
export { downloadFile, type DownloadedFile, type DownloadOptions } from './ota/download.js';
export { runOtaJob, type OtaJobOptions, type OtaJobResult } from './ota/ota-job.js';
export { ProvisioningClient, type ProvisioningClientOptions } from './provisioning/provisioning-client.js';
export { provisionByClaim, type ProvisionByClaimOptions, type ProvisionedDevice } from './provisioning/provision-by-claim.js';
