import { AWS_PROFILE, type BrokerConfig } from '@thicket/broker';
import type { Profile } from './config.js';

/** Broker settings of a profile, with the operator's overrides on top. */
export function brokerSettings(profile: Profile, overrides: Partial<BrokerConfig>): Partial<BrokerConfig> {
  return { ...(profile === 'aws' ? AWS_PROFILE : {}), ...overrides };
}
