/**
 * The broker's authentication and authorization hooks for AWS IoT semantics: a TLS client
 * certificate must be registered and ACTIVE (and chain to an ACTIVE registered CA, or to the
 * server's CA, or be registered without a CA); every CONNECT, PUBLISH, SUBSCRIBE and delivery is
 * decided by the IoT policies that apply to the connection, compiled once per connection and
 * recompiled when anything they depend on changes in the namespace.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { RC, type AuthResult, type BrokerHooks, type ClientInfo, type ConnectRequest, type QoS } from '@thicket/broker';
import type { Logger } from 'pino';
import { iotArn, mountOf, type Namespace } from '../accounts/namespace.js';
import type { CertificateStore } from '../certificates/cert-store.js';
import { certArn } from '../certificates/certificates.js';
import { issuedBy, validNow } from '../certificates/x509-check.js';
import { compilePolicies, type CompiledPolicySet, type ConditionContext, type PolicyDocument } from '../policies/engine/index.js';
import type { Policies } from '../policies/policies.js';
import type { RegistryStore } from '../registry/registry-store.js';
import { certificateIdOf } from './certificate-id.js';
import { customAuthRequestFromMqtt, type CustomAuthorizers, type CustomAuthRequest } from '../authorizers/index.js';
import { bindThing, identityVariables } from './connection-identity.js';
import type { ConnectionDomain } from '../domains/domain-configurations.js';

/** What the hooks keep on each connection (ClientInfo.context). */
export interface ConnectionAuth {
  ns: Namespace;
  /** Certificate ARN, or undefined for anonymous development-mode clients and custom-auth clients. */
  principal: string | undefined;
  certificateId: string | undefined;
  caCertificateId: string | null;
  certificate: X509Certificate | undefined;
  clientId: string;
  sourceIp: string;
  /** Development mode without credentials: everything is allowed. */
  allowAll: boolean;
  /** Documents returned by a custom authorizer (used instead of attached policies). */
  documents: PolicyDocument[] | undefined;
  /** Custom auth: the request to repeat when the authorizer asked to be called again, and the timer. */
  customAuth: { request: CustomAuthRequest; timer: NodeJS.Timeout | undefined } | undefined;
  extraVariables: Record<string, string> | undefined;
  thingName: string | undefined;
  /** The certificate is attached to that thing exclusively (lifecycle events then carry thingName). */
  thingExclusive: boolean;
  context: ConditionContext;
  set: CompiledPolicySet | undefined;
  /** The namespace's change counter, and its value when `set` was compiled. */
  counter: { value: number };
  generation: number;
  /** `arn:aws:iot:<region>:<account>:`, built once. */
  arnPrefix: string;
  /** Decisions by action, keyed by the raw topic or filter (no string built per check); null when conditions apply. */
  cache: Record<TopicAction, Map<string, boolean> | null>;
}

type TopicAction = 'iot:Publish' | 'iot:RetainPublish' | 'iot:Subscribe' | 'iot:Receive';
const TOPIC_ACTIONS: TopicAction[] = ['iot:Publish', 'iot:RetainPublish', 'iot:Subscribe', 'iot:Receive'];
/** Per connection and action; devices use few topics, so this rarely fills (and is then simply cleared). */
const CACHE_ENTRIES = 512;

export interface AuthorizerDeps {
  certificates: CertificateStore;
  registry: RegistryStore;
  policies: Policies;
  caCertPem: string;
  dev: boolean;
  /** Decides for anonymous development-mode clients; without it they may do anything. */
  devPolicy?: PolicyDocument;
  defaultNamespace: Namespace;
  log: Logger;
  customAuthorizers: CustomAuthorizers;
  /** Closes the connection authenticated as `auth` (a refresh of its custom auth failed). */
  disconnect(auth: ConnectionAuth, why: string): void;
  /** The domain configuration of the host name a TLS client asked for (SNI), if any. */
  domainOf?(servername: string | undefined): ConnectionDomain | undefined;
  /**
   * Just-in-time registration: a certificate registered nowhere, signed by a registered CA that
   * registers what it signed (`within`: the account of the domain the client connected through).
   * Resolves once that is done; the certificate is then looked up again.
   */
  autoRegister?(der: Buffer, within: Namespace | undefined): Promise<void>;
}

const ip = (a: string): string => (a.startsWith('::ffff:') ? a.slice(7) : a);

export class DeviceAuthorizer implements BrokerHooks {
  private readonly builtInCa: X509Certificate;
  /** Per namespace: bumped when policies, attachments or the registry change. */
  private counters = new Map<string, { value: number }>();

  constructor(private readonly deps: AuthorizerDeps) {
    this.builtInCa = new X509Certificate(deps.caCertPem);
  }

  /** Something policies depend on changed in `ns`: connections recompile at their next decision. */
  invalidate(ns: Namespace): void {
    this.counter(ns).value++;
  }

  invalidateAll(): void {
    for (const c of this.counters.values()) c.value++;
  }

  private counter(ns: Namespace): { value: number } {
    const k = mountOf(ns);
    let c = this.counters.get(k);
    if (!c) this.counters.set(k, (c = { value: 0 }));
    return c;
  }

  authenticate(req: ConnectRequest): AuthResult | Promise<AuthResult> {
    const tls = req.transport.tls;
    const sourceIp = ip(req.transport.remoteAddress);
    let auth: ConnectionAuth;
    const domain = this.deps.domainOf?.(tls?.servername);
    // The handshake already refuses a DISABLED domain; this covers one disabled since.
    if (domain && !domain.enabled)
      return { reasonCode: RC.NOT_AUTHORIZED, reasonString: `domain configuration ${domain.name} is DISABLED` };
    const custom = tls?.peerCertificate ? undefined : this.customAuthRequest(req, domain);
    if (custom) return this.customAuthenticate(req, custom, sourceIp);
    if (tls?.peerCertificate) {
      const der = tls.peerCertificate;
      if (this.deps.autoRegister && !this.registered(der, domain?.ns)) {
        const registering = this.deps.autoRegister(der, domain?.ns).catch((err: Error) => {
          this.deps.log.warn({ err: err.message, certificateId: certificateIdOf(der) }, 'just-in-time registration failed');
        });
        return registering.then(() => {
          const found = this.certificateAuth(der, req.clientId, sourceIp, domain?.ns);
          return 'reasonCode' in found ? found : this.connectAnswer(found, req);
        });
      }
      const found = this.certificateAuth(der, req.clientId, sourceIp, domain?.ns);
      if ('reasonCode' in found) return found;
      auth = found;
    } else if (this.deps.dev) {
      auth = this.base(this.deps.defaultNamespace, req.clientId, sourceIp);
      if (this.deps.devPolicy) auth.documents = [this.deps.devPolicy];
      else auth.allowAll = true;
    } else {
      return {
        reasonCode: RC.NOT_AUTHORIZED,
        reasonString: 'no credentials: connect over TLS with a registered client certificate, or start the server with --dev',
      };
    }
    return this.connectAnswer(auth, req);
  }

  /** Whether the certificate is registered (in the domain's account, when the client came through one). */
  private registered(der: Buffer, within: Namespace | undefined): boolean {
    return this.registrationsWithin(certificateIdOf(der), within).length > 0;
  }

  /** The certificate's registrations, in the domain's account only when the client came through one. */
  private registrationsWithin(id: string, within: Namespace | undefined) {
    return this.deps.certificates
      .registrations(id)
      .filter((r) => !within || (r.accountId === within.accountId && r.region === within.region));
  }

  /** The CONNECT answer for an authenticated connection: iot:Connect decides. */
  private connectAnswer(auth: ConnectionAuth, req: ConnectRequest): AuthResult {
    const denied = this.connectDecision(auth, req);
    const result: AuthResult = {
      reasonCode: RC.SUCCESS,
      mount: mountOf(auth.ns),
      principal: auth.certificateId ?? req.username ?? 'anonymous',
      context: auth,
    };
    if (denied) return { ...result, reasonCode: RC.NOT_AUTHORIZED, reasonString: denied };
    return result;
  }

  /**
   * A device calling the HTTPS data-plane API with its certificate: the same certificate checks as
   * MQTT, then its policies decide each action. HTTP has no client id, so no thing is bound by name.
   */
  httpCaller(
    certificate: Buffer,
    sourceIp: string,
    servername?: string,
  ): { ns: Namespace; certificateId?: string; allows(action: string, resource: string): boolean } | { refused: string } {
    // As over MQTT: a domain's host name selects its account, and a domain disabled since the handshake refuses.
    const domain = this.deps.domainOf?.(servername);
    if (domain && !domain.enabled) return { refused: `domain configuration ${domain.name} is DISABLED` };
    const found = this.certificateAuth(certificate, '', ip(sourceIp), domain?.ns);
    if ('reasonCode' in found) return { refused: found.reasonString ?? 'certificate refused' };
    const auth = found;
    return {
      ns: auth.ns,
      certificateId: auth.certificateId,
      allows: (action, resource) => this.policySet(auth).evaluate(action, resource, auth.context) === 'allow',
    };
  }

  /**
   * The custom-auth request of a CONNECT without a certificate: when it names an authorizer, or when
   * a default authorizer exists (AWS: the endpoint's default authorizer applies to such clients).
   */
  private customAuthRequest(req: ConnectRequest, domain: ConnectionDomain | undefined): CustomAuthRequest | undefined {
    const domainDefault = domain?.defaultAuthorizerName;
    const anyDefault = domainDefault !== undefined || this.deps.customAuthorizers.hasDefault();
    // A plain MQTT client over TCP that names no authorizer, when no default exists: nothing to parse.
    if (!req.transport.http && Object.keys(req.usernameQuery).length === 0 && !anyDefault) return undefined;
    const transport = { tls: req.transport.tls ? { servername: req.transport.tls.servername } : undefined, http: req.transport.http };
    const args = [req.username, req.usernameQuery, req.password, req.clientId, transport, randomUUID()] as const;
    const request =
      customAuthRequestFromMqtt(...args) ?? (anyDefault ? customAuthRequestFromMqtt(...args, { useDefault: true }) : undefined);
    if (request && domain) {
      // A domain's host name selects its account (reference dataplane §0, §5.2), and its default
      // authorizer decides unless the client names another one and the domain allows that.
      request.ns = domain.ns;
      if (domainDefault !== undefined && (request.authorizerName === undefined || !domain.allowAuthorizerOverride)) {
        request.authorizerName = domainDefault;
      }
    }
    return request;
  }

  private async customAuthenticate(req: ConnectRequest, request: CustomAuthRequest, sourceIp: string): Promise<AuthResult> {
    const outcome = await this.deps.customAuthorizers.authenticate(request);
    if (!outcome.ok) {
      this.deps.log.info({ clientId: req.clientId, reason: outcome.reason }, 'custom authentication refused');
      return { reasonCode: RC.NOT_AUTHORIZED, reasonString: outcome.reason };
    }
    const auth = this.base(outcome.ns, req.clientId, sourceIp);
    auth.documents = outcome.policyDocuments;
    auth.extraVariables = outcome.variables;
    const denied = this.connectDecision(auth, req);
    if (denied) return { reasonCode: RC.NOT_AUTHORIZED, reasonString: denied, principal: outcome.principalId, mount: mountOf(auth.ns) };
    if (outcome.refreshAfterSeconds) {
      auth.customAuth = { request, timer: undefined };
      this.scheduleRefresh(auth, outcome.refreshAfterSeconds);
    }
    return {
      reasonCode: RC.SUCCESS,
      mount: mountOf(auth.ns),
      principal: outcome.principalId,
      context: auth,
      disconnectAfterSeconds: outcome.disconnectAfterSeconds,
    };
  }

  /** Calls the authorizer again when it asked to be; new policies apply at once, a refusal closes the connection. */
  private scheduleRefresh(auth: ConnectionAuth, seconds: number): void {
    const ca = auth.customAuth!;
    ca.timer = setTimeout(() => {
      void this.deps.customAuthorizers.authenticate(ca.request).then((outcome) => {
        if (auth.customAuth !== ca) return;
        if (!outcome.ok) {
          this.deps.disconnect(auth, `custom authorizer refused on refresh: ${outcome.reason}`);
          return;
        }
        auth.documents = outcome.policyDocuments;
        auth.extraVariables = outcome.variables;
        auth.set = undefined;
        if (outcome.refreshAfterSeconds) this.scheduleRefresh(auth, outcome.refreshAfterSeconds);
      });
    }, seconds * 1000);
    ca.timer.unref();
  }

  /** The connection closed: stop refreshing its custom auth. */
  release(context: unknown): void {
    const auth = context as ConnectionAuth | undefined;
    if (auth?.customAuth?.timer) clearTimeout(auth.customAuth.timer);
    if (auth) auth.customAuth = undefined;
  }

  /** Builds the connection's auth from a certificate, or the refusal. */
  /** `within`: the namespace of the domain configuration the client connected through (its host name selects the account). */
  private certificateAuth(der: Buffer, clientId: string, sourceIp: string, within?: Namespace): ConnectionAuth | AuthResult {
    const id = certificateIdOf(der);
    const refuse = (why: string): AuthResult => {
      this.deps.log.info({ certificateId: id, clientId }, `certificate refused: ${why}`);
      return { reasonCode: RC.NOT_AUTHORIZED, reasonString: why, principal: id };
    };
    const registrations = this.registrationsWithin(id, within);
    if (registrations.length === 0) return refuse(`certificate ${id} is not registered${within ? ' in the account of this domain' : ''}`);
    const reg = registrations.find((r) => r.status === 'ACTIVE');
    if (!reg) return refuse(`certificate ${id} is ${registrations[0]!.status}, not ACTIVE`);
    const cert = new X509Certificate(der);
    if (!validNow(cert)) return refuse(`certificate ${id} is outside its validity period (${cert.validFrom} to ${cert.validTo})`);
    const ns: Namespace = { accountId: reg.accountId, region: reg.region };
    if (reg.caCertificateId !== null) {
      const ca = this.deps.certificates.caCertificate(ns, reg.caCertificateId);
      if (!ca || ca.status !== 'ACTIVE')
        return refuse(`the CA certificate ${reg.caCertificateId} that signed certificate ${id} is not ACTIVE`);
      if (!issuedBy(cert, new X509Certificate(ca.pem)))
        return refuse(`certificate ${id} does not verify against its CA ${reg.caCertificateId}`);
    }
    const auth = this.base(ns, clientId, sourceIp);
    auth.principal = certArn(ns, id);
    auth.certificateId = id;
    auth.caCertificateId = reg.caCertificateId;
    auth.certificate = cert;
    return auth;
  }

  private base(ns: Namespace, clientId: string, sourceIp: string): ConnectionAuth {
    return {
      ns,
      principal: undefined,
      certificateId: undefined,
      caCertificateId: null,
      certificate: undefined,
      clientId,
      sourceIp,
      allowAll: false,
      documents: undefined,
      customAuth: undefined,
      extraVariables: undefined,
      thingName: undefined,
      thingExclusive: false,
      context: {},
      set: undefined,
      counter: this.counter(ns),
      generation: -1,
      arnPrefix: iotArn(ns, ''),
      cache: { 'iot:Publish': null, 'iot:RetainPublish': null, 'iot:Subscribe': null, 'iot:Receive': null },
    };
  }

  /** iot:Connect (with iot:ConnectAttributes), and publishing the will; returns why it is denied. */
  private connectDecision(auth: ConnectionAuth, req: ConnectRequest): string | undefined {
    if (auth.allowAll) return undefined;
    const set = this.policySet(auth);
    const attributes: string[] = [];
    const persistent = req.protocolVersion === 5 ? (req.properties.sessionExpiryInterval ?? 0) > 0 : !req.clean;
    if (persistent) attributes.push('PersistentConnect');
    if (req.will) attributes.push('LastWill');
    const context = { ...auth.context, 'iot:ConnectAttributes': attributes };
    if (set.evaluate('iot:Connect', iotArn(auth.ns, `client/${req.clientId}`), context) !== 'allow') {
      return `not authorized to connect as client id "${req.clientId}"`;
    }
    if (req.will) {
      const topic = iotArn(auth.ns, `topic/${req.will.topic}`);
      if (set.evaluate('iot:Publish', topic, auth.context) !== 'allow') return `not authorized to publish the will on "${req.will.topic}"`;
      if (req.will.retain && set.evaluate('iot:RetainPublish', topic, auth.context) !== 'allow') {
        return `not authorized to publish a retained will on "${req.will.topic}"`;
      }
    }
    return undefined;
  }

  /** The connection's compiled policies, rebuilt when its namespace changed since they were compiled. */
  policySet(auth: ConnectionAuth): CompiledPolicySet {
    const generation = auth.counter.value;
    if (auth.set && auth.generation === generation) return auth.set;
    const { registry, policies } = this.deps;
    const thing = bindThing(registry, auth.ns, auth.principal, auth.clientId);
    const row = thing ? registry.thing(auth.ns, thing.thingName) : undefined;
    const { vars, context } = identityVariables({
      ns: auth.ns,
      clientId: auth.clientId,
      sourceIp: auth.sourceIp,
      certificate: auth.certificate,
      thing,
      thingTypeName: row?.thingTypeName,
      thingAttributes: row?.attributes,
      extra: auth.extraVariables,
    });
    // Thing-group policies reach a connection only through a thing its certificate is attached to.
    const docs = auth.documents ?? policies.documents(auth.ns, policies.effectiveNames(auth.ns, auth.principal, thing?.thingName));
    auth.thingName = thing?.thingName;
    auth.thingExclusive = thing?.exclusive ?? false;
    auth.context = context;
    const set = compilePolicies(docs, vars);
    auth.set = set;
    auth.generation = generation;
    for (const a of TOPIC_ACTIONS) auth.cache[a] = set.cacheable(a) ? new Map() : null;
    return set;
  }

  /** The decision on a topic (or filter), from the connection's cache when conditions cannot change it. */
  private decide(client: ClientInfo, action: TopicAction, topic: string): boolean {
    const auth = client.context as ConnectionAuth | undefined;
    if (!auth) return false;
    if (auth.allowAll) return true;
    const set = this.policySet(auth);
    const cache = auth.cache[action];
    const hit = cache?.get(topic);
    if (hit !== undefined) return hit;
    const kind = action === 'iot:Subscribe' ? 'topicfilter/' : 'topic/';
    const allowed = set.evaluate(action, auth.arnPrefix + kind + topic, auth.context) === 'allow';
    if (cache) {
      if (cache.size >= CACHE_ENTRIES) cache.clear();
      cache.set(topic, allowed);
    }
    return allowed;
  }

  authorizePublish(client: ClientInfo, topic: string, _qos: QoS, retain: boolean): number {
    if (!this.decide(client, 'iot:Publish', topic)) return RC.NOT_AUTHORIZED;
    if (retain && !this.decide(client, 'iot:RetainPublish', topic)) return RC.NOT_AUTHORIZED;
    return RC.SUCCESS;
  }

  authorizeSubscribe(client: ClientInfo, filter: string): number {
    return this.decide(client, 'iot:Subscribe', filter) ? RC.SUCCESS : RC.NOT_AUTHORIZED;
  }

  authorizeReceive(client: ClientInfo, topic: string): boolean {
    return this.decide(client, 'iot:Receive', topic);
  }
}
