/**
 * Registry events (reference dataplane §4.2) published on `$aws/events/...` when the account
 * enabled that event type with UpdateEventConfigurations; off by default, as on AWS.
 */
import { randomUUID } from 'node:crypto';
import type { Namespace } from '../accounts/namespace.js';
import type { RegistryStore } from './registry-store.js';

export const EVENT_TYPES = [
  'THING',
  'THING_GROUP',
  'THING_TYPE',
  'THING_TYPE_ASSOCIATION',
  'THING_GROUP_MEMBERSHIP',
  'THING_GROUP_HIERARCHY',
  'CA_CERTIFICATE',
  'CERTIFICATE',
  'POLICY',
  'JOB',
  'JOB_EXECUTION',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type Publish = (ns: Namespace, topic: string, payload: Record<string, unknown>) => void;

export class RegistryEvents {
  constructor(
    /** Holds the event configurations in memory: read on every registry change, written rarely. */
    private readonly store: RegistryStore,
    private readonly publish: Publish,
    /** Every registry change, published or not (policy variables depend on the registry). */
    private readonly onChange: (ns: Namespace) => void = () => {},
  ) {}

  enabled(ns: Namespace, type: EventType): boolean {
    return this.store.eventEnabled(ns, type);
  }

  configure(ns: Namespace, changes: Record<string, boolean>): Promise<void> {
    return this.store.setEventConfigurations(ns, changes);
  }

  /** Publishes `body` (with eventType, eventId, timestamp and accountId added) if the type is enabled. */
  emit(ns: Namespace, type: EventType, topic: string, body: Record<string, unknown>): void {
    // Job state is no policy input: a fleet reporting executions must not recompile every policy.
    if (type !== 'JOB' && type !== 'JOB_EXECUTION') this.onChange(ns);
    if (!this.enabled(ns, type)) return;
    this.publish(ns, topic, {
      eventType: `${type}_EVENT`,
      eventId: randomUUID().replace(/-/g, ''),
      timestamp: Date.now(),
      accountId: ns.accountId,
      ...body,
    });
  }
}
