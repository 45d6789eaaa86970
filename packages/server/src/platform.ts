/**
 * The platform's services and stores, wired together once: what the HTTP API and the MQTT hooks
 * both call (DESIGN §1.2: the HTTP API calls the same service functions the MQTT handlers call).
 */
import { RC, type Broker, type DisconnectReason } from '@thicket/broker';
import type { Logger } from 'pino';
import { AccountStore } from './accounts/account-store.js';
import { adminRoutes } from './accounts/admin-routes.js';
import { iotArn, mountOf, parseArn, type Namespace } from './accounts/namespace.js';
import type { ApiRoute } from './api/aws-api.js';
import { endpointRoutes, type PublicEndpoints } from './api/endpoint-routes.js';
import { subscribeRoutes } from './api/subscribe-route.js';
import { dataplaneRoutes } from './dataplane/index.js';
import { DeviceAuthorizer, type ConnectionAuth } from './authz/device-authorizer.js';
import { AuthorizerStore, CustomAuthorizers, authorizerRoutes } from './authorizers/index.js';
import { createDomains, normalizeHost, type Domains } from './domains/index.js';
import { CaCertificates } from './certificates/ca-certificates.js';
import { CertificateStore } from './certificates/cert-store.js';
import { Certificates } from './certificates/certificates.js';
import { ThingPrincipals } from './certificates/principals.js';
import { certificateRoutes } from './certificates/routes.js';
import type { AccessKey } from './credentials.js';
import { FileService, fileRoutes } from './files/index.js';
import type { Pki } from './pki/index.js';
import { Policies } from './policies/policies.js';
import type { PolicyDocument } from './policies/engine/index.js';
import { PolicyStore } from './policies/policy-store.js';
import { policyRoutes } from './policies/routes.js';
import { BillingGroups } from './registry/billing-groups.js';
import { createRoleModule, type RoleModule } from './roles/index.js';
import { createRules, type RulesModule } from './rules/index.js';
import { createSqlHost } from './rules/sql-host.js';
import { createFunctions, type FunctionsModule } from './functions/index.js';
import type { RulesSettings } from './rules/rules-config.js';
import { RegistryEvents } from './registry/events.js';
import { RegistryStore } from './registry/registry-store.js';
import { registryRoutes } from './registry/routes.js';
import { ThingGroups } from './registry/thing-groups.js';
import { ThingTypes } from './registry/thing-types.js';
import { Things } from './registry/things.js';
import { inTransaction, type Db } from './store/database.js';
import { serveShadowsOverMqtt } from './shadow/shadow-mqtt.js';
import { shadowRoutes } from './shadow/shadow-routes.js';
import { DEFAULT_SHADOW_SETTINGS, ShadowService, type ShadowSettings } from './shadow/shadow-service.js';
import { ShadowStore } from './shadow/shadow-store.js';
import { DeviceJobs } from './jobs/device-jobs.js';
import { JobStore } from './jobs/job-store.js';
import { serveJobsOverMqtt } from './jobs/jobs-mqtt.js';
import { jobsControlRoutes, jobsDataRoutes } from './jobs/jobs-routes.js';
import { JobsService } from './jobs/jobs-service.js';
import { Telemetry, telemetryRoutes, type TableSettings } from './telemetry/index.js';

export interface PlatformOptions {
  db: Db;
  pki: Pki;
  adminKey: AccessKey;
  defaultNamespace: Namespace;
  /** Development mode: clients without credentials may connect (and do anything, or what devPolicy allows). */
  dev: boolean;
  devPolicy?: PolicyDocument;
  shadows?: ShadowSettings;
  /** URL prefixes whose topic rule destinations need no confirmation (config `rules.trustedUrlPrefixes`). */
  trustedUrlPrefixes?: readonly string[];
  /** NATS servers nats rule actions may name, and the cloudwatchMetric action's caps (config `rules`). */
  ruleNats?: RulesSettings['nats'];
  ruleMetricLimits?: RulesSettings['metrics'];
  /** Rule tables: PostgreSQL databases, retention and query bounds (config `rules`). */
  ruleTables?: TableSettings;
  log: Logger;
}

export class Platform {
  readonly accounts: AccountStore;
  readonly registry: RegistryStore;
  readonly events: RegistryEvents;
  readonly things: Things;
  readonly thingTypes: ThingTypes;
  readonly thingGroups: ThingGroups;
  readonly billingGroups: BillingGroups;
  readonly certificateStore: CertificateStore;
  readonly certificates: Certificates;
  readonly caCertificates: CaCertificates;
  readonly principals: ThingPrincipals;
  readonly policyStore: PolicyStore;
  readonly policies: Policies;
  readonly authorizer: DeviceAuthorizer;
  readonly authorizerStore: AuthorizerStore;
  readonly customAuthorizers: CustomAuthorizers;
  /** Domain configurations: host names with their own certificate and default authorizer, matched by SNI. */
  readonly domains: Domains;
  /** Roles, role aliases and the credentials provider (temporary credentials acting as a role). */
  readonly roles: RoleModule;
  /** Topic rules: the control plane and the engine that runs them on every routed message. */
  readonly rules: RulesModule;
  /** Registered functions (HTTP endpoints, JavaScript modules) that rules call where AWS calls Lambda. */
  readonly functions: FunctionsModule;
  readonly shadows: ShadowService;
  readonly jobs: JobsService;
  readonly deviceJobs: DeviceJobs;
  /** Files for OTA jobs: job documents reference them by placeholders (substituteFilePlaceholders). */
  readonly files: FileService;
  /** Rule tables: rows of the dynamoDBv2 and timestream actions, and queries over them. */
  readonly telemetry: Telemetry;
  readonly routes: ApiRoute[];
  readonly defaultNamespace: Namespace;
  private broker: Broker | undefined;
  private readonly db: Db;
  private readonly log: Logger;
  private stopShadows: (() => void) | undefined;
  private stopJobs: (() => void) | undefined;
  /** Filled in once the listeners are bound. */
  endpoints: PublicEndpoints = { host: 'localhost', mqtt: null, mqtts: null, http: null, https: null };

  constructor(opts: PlatformOptions) {
    const { db } = opts;
    this.db = db;
    this.log = opts.log;
    this.defaultNamespace = opts.defaultNamespace;
    this.accounts = new AccountStore(db);
    this.accounts.ensureDefault(opts.adminKey, opts.defaultNamespace.accountId);
    this.registry = new RegistryStore(db);
    // What the services publish (events, shadow answers, job notifications): JSON at QoS 1.
    const publish = (ns: Namespace, topic: string, payload: object): void => {
      this.broker?.publish({ mount: mountOf(ns), topic, payload: JSON.stringify(payload), qos: 1 });
    };
    this.events = new RegistryEvents(this.registry, publish, (ns) => this.authorizer.invalidate(ns));
    this.billingGroups = new BillingGroups(this.registry);
    this.things = new Things(this.registry, this.events, this.billingGroups);
    this.thingTypes = new ThingTypes(this.registry, this.events);
    this.thingGroups = new ThingGroups(this.registry, this.events);

    this.policyStore = new PolicyStore(db);
    this.policies = new Policies(this.policyStore, {
      targetExists: (ns, arn) => this.resourceExists(arn) && parseArn(arn)?.accountId === ns.accountId,
      groupAncestors: (ns, group) => this.thingGroups.lineage(ns, group).slice(0, -1),
      groupsOfThing: (ns, thing) => this.thingGroups.groupsReaching(ns, thing),
      changed: (ns) => this.authorizer.invalidate(ns),
    });

    this.certificateStore = new CertificateStore(db);
    this.certificates = new Certificates(this.certificateStore, opts.pki, {
      thingsOf: (ns, arn) => this.registry.thingsOf(ns, arn).map((t) => t.thingName),
      policiesOf: (ns, arn) => this.policyStore.policiesOf(ns, arn),
      detachAllPolicies: (ns, arn) => this.policies.detachAll(ns, arn),
      deactivated: (ns, id) => this.disconnect(ns, (a) => a.certificateId === id, `certificate ${id} is no longer ACTIVE`),
    });
    this.caCertificates = new CaCertificates(this.certificateStore, (ns, id) =>
      this.disconnect(ns, (a) => a.caCertificateId === id, `the CA certificate ${id} is no longer ACTIVE`),
    );
    this.principals = new ThingPrincipals(this.registry, this.certificates, (ns) => this.authorizer.invalidate(ns));

    this.authorizerStore = new AuthorizerStore(db);
    this.customAuthorizers = new CustomAuthorizers({
      store: this.authorizerStore,
      policyDocumentsFor: (ns, names) => this.policies.documents(ns, names),
      log: opts.log.child({ component: 'custom-auth' }),
      tags: { put: (arn, tags) => this.registry.putTags(arn, tags), remove: (arn) => this.registry.deleteTags(arn) },
      domainsUsing: (ns, name) => this.domains.configurations.usingAuthorizer(ns, name),
    });
    this.domains = createDomains({
      db,
      pki: opts.pki,
      authorizerExists: (ns, name) => this.authorizerStore.authorizer(ns, name) !== undefined,
      managedDomainSuffix: () => this.endpoints.host,
      tags: { put: (arn, tags) => this.registry.putTags(arn, tags), remove: (arn) => this.registry.deleteTags(arn) },
      disconnectHost: (host, why) =>
        this.broker?.disconnectWhere(
          (c) => normalizeHost(c.client?.transport.tls?.servername ?? '') === host,
          'AUTH_ERROR',
          RC.NOT_AUTHORIZED,
          why,
        ),
      log: opts.log.child({ component: 'domains' }),
    });
    this.authorizer = new DeviceAuthorizer({
      customAuthorizers: this.customAuthorizers,
      domainOf: (servername) => this.domains.sni.domainOf(servername),
      disconnect: (auth, why) => this.disconnect(auth.ns, (a) => a === auth, why, 'CUSTOMAUTH_TTL_EXPIRATION'),
      certificates: this.certificateStore,
      registry: this.registry,
      policies: this.policies,
      caCertPem: opts.pki.caCertPem,
      dev: opts.dev,
      devPolicy: opts.devPolicy,
      defaultNamespace: opts.defaultNamespace,
      log: opts.log.child({ component: 'authz' }),
    });

    this.shadows = new ShadowService(new ShadowStore(db), publish, opts.shadows ?? DEFAULT_SHADOW_SETTINGS);
    // The PKI's directory is the data directory (a temporary one with --ephemeral).
    this.files = new FileService({
      db,
      dataDir: opts.pki.dataDir,
      endpoints: () => this.endpoints,
      log: opts.log.child({ component: 'files' }),
      inUse: (ns, fileName) => this.jobs.fileUser(ns, fileName),
    });

    const jobStore = new JobStore(db);
    const files = this.files;
    this.jobs = new JobsService({
      store: jobStore,
      registry: this.registry,
      groups: this.thingGroups,
      events: this.events,
      log: opts.log.child({ component: 'jobs' }),
      publish,
      files: {
        checkReferences: (ns, text) => files.checkFileReferences(text, ns),
        substitute: (ns, text, expiresInSec) => files.substituteFilePlaceholders(text, ns, { expiresInSec }),
        readText: (ns, name, maxBytes) => files.readText(ns, name, maxBytes),
      },
    });
    this.deviceJobs = new DeviceJobs({
      store: jobStore,
      lifecycle: this.jobs.lifecycle,
      documentFor: (ns, job) => this.jobs.deviceDocument(ns, job),
      clock: Date.now,
      expireDue: () => this.jobs.expireDue(),
    });
    this.things.deleted = (ns, thingName) => this.jobs.thingDeleted(ns, thingName);
    this.roles = createRoleModule({
      db,
      thingsOf: (ns, id) => this.registry.thingsOf(ns, iotArn(ns, `cert/${id}`)).map((t) => t.thingName),
      thingTypeOf: (ns, thingName) => this.registry.thing(ns, thingName)?.thingTypeName,
      certificateActive: (ns, id) => this.certificateStore.certificate(ns, id)?.status === 'ACTIVE',
      tags: { put: (arn, tags) => this.registry.putTags(arn, tags), remove: (arn) => this.registry.deleteTags(arn) },
    });
    this.accounts.sessions = this.roles.provider;
    this.functions = createFunctions({ db, log: opts.log.child({ component: 'functions' }) });
    const functions = this.functions.functions;
    this.telemetry = new Telemetry({ dataDir: opts.pki.dataDir, settings: opts.ruleTables, log: opts.log.child({ component: 'tables' }) });
    this.rules = createRules({
      db,
      tables: this.telemetry,
      invokeFunction: (ns, arn, event) => functions.invoke(ns, arn, event),
      hostFor: (ns) =>
        createSqlHost(ns, {
          invokeFunction: (n, ref, event, o) => functions.invoke(n, ref, event, o),
          shadow: (n, thingName, shadowName) => this.shadows.get(n, { thingName, shadowName }),
          describeThing: (n, thingName) => this.things.describe(n, thingName),
          thingGroupsForThing: (n, thingName) => this.thingGroups.listForThing(n, thingName, { maxResults: 250 }),
        }),
      broker: () => this.broker,
      tags: { put: (arn, tags) => this.registry.putTags(arn, tags), remove: (arn) => this.registry.deleteTags(arn) },
      trustedUrlPrefixes: opts.trustedUrlPrefixes,
      nats: opts.ruleNats,
      metricLimits: opts.ruleMetricLimits,
      files: this.files,
      roleCredentials: (ns, roleArn) => this.roles.provider.issueForService(ns, roleArn),
      apiBase: () => {
        const e = this.endpoints;
        return e.http !== null ? `http://${e.host}:${e.http}` : `https://${e.host}:${e.https ?? 8443}`;
      },
      log: opts.log.child({ component: 'rules' }),
    });
    this.thingGroups.membershipChanged = (ns, thingName) => this.jobs.membershipChanged(ns, thingName);

    this.routes = [
      ...registryRoutes({
        store: this.registry,
        things: this.things,
        thingTypes: this.thingTypes,
        thingGroups: this.thingGroups,
        billingGroups: this.billingGroups,
        events: this.events,
        resourceExists: (arn) => this.resourceExists(arn),
      }),
      ...certificateRoutes(this.certificates, this.caCertificates, this.principals),
      ...policyRoutes(this.policies),
      ...authorizerRoutes(this.customAuthorizers),
      ...this.domains.routes,
      ...shadowRoutes(this.shadows),
      ...dataplaneRoutes(() => this.broker),
      ...jobsControlRoutes(this.jobs),
      ...jobsDataRoutes(this.deviceJobs),
      ...fileRoutes(this.files),
      ...telemetryRoutes(this.telemetry),
      ...subscribeRoutes(() => this.broker),
      ...endpointRoutes(() => this.endpoints),
      ...adminRoutes(this.accounts),
      ...this.roles.routes,
      ...this.rules.routes,
      ...this.functions.routes,
    ];
  }

  /**
   * Test mode: removes all state of every namespace — connections closed, sessions and retained
   * messages gone, every resource deleted — and returns when it is done. Accounts and access keys
   * stay (they are how tests reach the server).
   */
  reset(): void {
    this.broker?.reset();
    inTransaction(this.db, () => {
      this.registry.clear();
      this.certificateStore.clear();
      this.policyStore.clear();
      this.authorizerStore.clear();
      this.domains.clear();
      this.shadows.clear();
      this.jobs.clear();
      this.roles.clear();
      this.rules.clear();
      this.functions.clear();
    });
    // After the commit: content removed for records that stayed would be lost.
    this.files.clear();
    this.telemetry.clear();
    this.customAuthorizers.defaultsChanged();
    this.events.clear();
    this.policies.clearCache();
    this.authorizer.invalidateAll();
  }

  /** The broker the platform publishes events into and closes connections on. */
  connect(broker: Broker): void {
    this.broker = broker;
    this.stopShadows?.();
    this.stopShadows = serveShadowsOverMqtt(broker, this.shadows, this.log.child({ component: 'shadow' }));
    this.stopJobs?.();
    this.stopJobs = serveJobsOverMqtt(broker, this.deviceJobs, this.log.child({ component: 'jobs' }));
    this.jobs.start();
    this.rules.start(broker);
    this.telemetry.start();
    broker.on('client:disconnected', (client: { context?: unknown } | undefined) => this.authorizer.release(client?.context));
  }

  /** Closes the connections of a namespace whose authentication matches (revoked credentials). */
  private disconnect(ns: Namespace, match: (auth: ConnectionAuth) => boolean, why: string, reason: DisconnectReason = 'AUTH_ERROR'): void {
    const mount = mountOf(ns);
    this.broker?.disconnectWhere(
      (c) => c.client?.mount === mount && c.client.context !== undefined && match(c.client.context as ConnectionAuth),
      reason,
      RC.ADMINISTRATIVE_ACTION,
      why,
    );
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
      case 'billinggroup':
        return this.registry.billingGroup(p, name) !== undefined;
      case 'cert':
        return this.certificateStore.certificate(p, name) !== undefined;
      case 'cacert':
        return this.certificateStore.caCertificate(p, name) !== undefined;
      case 'policy':
        return this.policyStore.policy(p, name) !== undefined;
      case 'authorizer':
        return this.authorizerStore.authorizer(p, name) !== undefined;
      case 'rule':
        return this.rules.store.rule(p, name) !== undefined;
      case 'rolealias':
        return this.roles.aliases.get(p, name) !== undefined;
      case 'domainconfiguration':
        return this.domains.store.domain(p, name.split('/')[0]!) !== undefined;
      default:
        return false;
    }
  }

  /** The thing a connection is bound to, for lifecycle events (only with an exclusive attachment, as on AWS). */
  lifecycleThingName(context: unknown): string | undefined {
    const auth = context as ConnectionAuth | undefined;
    return auth?.thingExclusive ? auth.thingName : undefined;
  }

  /** The ARN of a thing in the default namespace (handy for tests and the CLI). */
  thingArn(name: string, ns: Namespace = this.defaultNamespace): string {
    return iotArn(ns, `thing/${name}`);
  }
}
