import { AWS_PROFILE, type BrokerConfig } from '@thicket/broker';
import type { Profile } from './config.js';
import { DEFAULT_SHADOW_SETTINGS, type ShadowSettings } from './shadow/shadow-service.js';

/** Broker settings of a profile, with the operator's overrides on top. */
export function brokerSettings(profile: Profile, overrides: Partial<BrokerConfig>): Partial<BrokerConfig> {
  return { ...(profile === 'aws' ? AWS_PROFILE : {}), ...overrides };
}

/** AWS IoT Core throttles shadow requests at 20 per second per thing; the standard profile does not. */
const AWS_SHADOW_QUOTAS: Partial<ShadowSettings> = { requestsPerSecondPerThing: 20 };

/** Shadow settings of a profile, with the operator's overrides on top. */
export function shadowSettings(profile: Profile, overrides: Partial<ShadowSettings>): ShadowSettings {
  return { ...DEFAULT_SHADOW_SETTINGS, ...(profile === 'aws' ? AWS_SHADOW_QUOTAS : {}), ...overrides };
}
