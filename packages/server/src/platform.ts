/**
 * The platform: its capabilities, in the order they are created (DESIGN §3). Each folder's module
 * says what it brings (services, stores, routes, MQTT topics, background tasks); a capability that
 * uses another's services only while running may be listed before it.
 */
import { accountsCapability } from './accounts/module.js';
import { authorizersCapability } from './authorizers/module.js';
import { authzCapability } from './authz/module.js';
import { certificatesCapability } from './certificates/module.js';
import { dataplaneCapability } from './dataplane/module.js';
import { domainsCapability } from './domains/module.js';
import { eventsCapability } from './events/module.js';
import { filesCapability } from './files/module.js';
import { functionsCapability } from './functions/index.js';
import { jobsCapability } from './jobs/module.js';
import { policiesCapability } from './policies/module.js';
import { provisioningCapability } from './provisioning/module.js';
import { Platform } from './platform/assemble.js';
import type { PlatformOptions } from './platform/capability.js';
import { registryCapability } from './registry/module.js';
import { rolesCapability } from './roles/index.js';
import { rulesCapability } from './rules/module.js';
import { shadowCapability } from './shadow/module.js';
import { tagsCapability } from './tags/module.js';
import { telemetryCapability } from './telemetry/index.js';

export { Platform } from './platform/assemble.js';
export type { PlatformOptions, Services } from './platform/capability.js';

export const CAPABILITIES = [
  accountsCapability,
  tagsCapability,
  registryCapability,
  policiesCapability,
  certificatesCapability,
  authorizersCapability,
  domainsCapability,
  authzCapability,
  shadowCapability,
  filesCapability,
  jobsCapability,
  rolesCapability,
  functionsCapability,
  telemetryCapability,
  rulesCapability,
  provisioningCapability,
  dataplaneCapability,
  eventsCapability,
];

export function createPlatform(options: PlatformOptions): Promise<Platform> {
  return Platform.assemble(options, CAPABILITIES);
}
