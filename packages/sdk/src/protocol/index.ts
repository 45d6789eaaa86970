/**
 * The wire protocol of the AWS IoT device data plane as data: topic builders and parsers, payload
 * types and name rules for shadows, jobs, fleet provisioning and OTA documents. Pure and free of
 * runtime dependencies, so that devices (this SDK) and the service share one definition.
 */
export * from './names.js';
export * from './shadow-topics.js';
export * from './shadow-payloads.js';
export * from './jobs-topics.js';
export * from './jobs-payloads.js';
export * from './provisioning-topics.js';
export * from './provisioning-payloads.js';
export * from './ota-document.js';
