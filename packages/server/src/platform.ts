/**
 * The platform's services and stores, wired together once: what the HTTP API and the MQTT hooks
 * both call (DESIGN §1.2: the HTTP API calls the same service functions the MQTT handlers call).
 */
import type { Broker } from '@thicket/broker';
import { AccountStore } from './accounts/account-store.js';
import { mountOf, parseArn, type Namespace } from './accounts/namespace.js';
import type { ApiRoute } from './api/aws-api.js';
import type { AccessKey } from './credentials.js';
import { RegistryEvents } from './registry/events.js';
import { RegistryStore } from './registry/registry-store.js';
import { registryRoutes } from './registry/routes.js';
import { ThingGroups } from './registry/thing-groups.js';
import { ThingTypes } from './registry/thing-types.js';
import { Things } from './registry/things.js';
import type { Db } from './store/database.js';

export interface PlatformOptions {
  db: Db;
  broker: Broker;
  adminKey: AccessKey;
  defaultNamespace: Namespace;
}

export class Platform {
  readonly accounts: AccountStore;
  readonly registry: RegistryStore;
  readonly events: RegistryEvents;
  readonly things: Things;
  readonly thingTypes: ThingTypes;
  readonly thingGroups: ThingGroups;
  readonly routes: ApiRoute[];
  readonly defaultNamespace: Namespace;

  constructor(opts: PlatformOptions) {
    const { db, broker } = opts;
    this.defaultNamespace = opts.defaultNamespace;
    this.accounts = new AccountStore(db);
    this.accounts.ensureDefault(opts.adminKey, opts.defaultNamespace.accountId);
    this.registry = new RegistryStore(db);
    this.events = new RegistryEvents(this.registry, (ns, topic, payload) =>
      broker.publish({ mount: mountOf(ns), topic, payload: JSON.stringify(payload), qos: 1 }),
    );
    this.things = new Things(this.registry, this.events);
    this.thingTypes = new ThingTypes(this.registry, this.events);
    this.thingGroups = new ThingGroups(this.registry, this.events);
    this.routes = [
      ...registryRoutes({
        store: this.registry,
        things: this.things,
        thingTypes: this.thingTypes,
        thingGroups: this.thingGroups,
        events: this.events,
        resourceExists: (arn) => this.resourceExists(arn),
      }),
    ];
  }

  /** Whether the resource an ARN names exists in its namespace. */
  resourceExists(arn: string): boolean {
    const p = parseArn(arn);
    if (!p) return false;
    const slash = p.resource.indexOf('/');
    const kind = p.resource.slice(0, slash);
    const name = p.resource.slice(slash + 1);
    switch (kind) {
      case 'thing':
        return this.registry.thing(p, name) !== undefined;
      case 'thingtype':
        return this.registry.thingType(p, name) !== undefined;
      case 'thinggroup':
        return this.registry.group(p, name) !== undefined;
      default:
        return false;
    }
  }
}
