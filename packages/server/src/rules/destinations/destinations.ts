/**
 * Topic rule destinations for HTTP URLs (reference controlplane §4.1): an http action delivers only
 * under an ENABLED destination, and a destination is enabled by proving control of its URL: a
 * confirmation message with a secret token is POSTed to it, and the token must come back through
 * ConfirmTopicRuleDestination. URLs under a prefix the operator trusts (config
 * `rules.trustedUrlPrefixes`) need no proof: their destinations are created ENABLED.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { iotArn, type Namespace } from '../../accounts/namespace.js';
import { decodeToken, encodeToken, pageSize } from '../../api/pagination.js';
import { alreadyExists, invalidRequest, limitExceeded, unauthorized } from '../../aws/errors.js';
import { postWithRetries } from '../actions/http-request.js';
import type { DestinationRow, DestinationStatus, DestinationStore } from './destination-store.js';
import { normalizedUrl, urlProblem, urlUnder } from './urls.js';

const STATUSES: readonly DestinationStatus[] = ['ENABLED', 'IN_PROGRESS', 'DISABLED', 'ERROR', 'DELETING'];
const MAX_URL = 2000;
const MAX_DESTINATIONS = 1000;
const MAX_PAGE = 1000;
const CONFIRMATION_TIMEOUT_MS = 4000;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const nsKey = (ns: Namespace): string => `${ns.accountId}/${ns.region}`;

export const destinationArn = (ns: Namespace, id: string): string => iotArn(ns, `ruledestination/http/${id}`);

function violation(member: string, value: unknown, constraint: string): never {
  const shown = value === undefined || value === null ? 'null' : `'${typeof value === 'string' ? value : JSON.stringify(value)}'`;
  throw invalidRequest(`1 validation error detected: Value ${shown} at '${member}' failed to satisfy constraint: ${constraint}`);
}

/** What the http action asks of destinations. */
export interface HttpDestinations {
  /** The status of the destination whose confirmation URL is `confirmationUrl`, undefined when there is none. */
  status(ns: Namespace, confirmationUrl: string): DestinationStatus | undefined;
  /** Whether `url` is under one of the operator's trusted prefixes. */
  trusted(url: string): boolean;
  /** Creates the destination of `confirmationUrl` unless one exists (a rule with an http action was saved). */
  ensure(ns: Namespace, confirmationUrl: string): void;
}

export interface DestinationsOptions {
  store: DestinationStore;
  trustedUrlPrefixes: readonly string[];
  /** Where this server's API is reached (`http://host:port`), for the confirmation message's enableUrl. */
  apiBase(): string;
  log: Logger;
  now?: () => number;
}

export class TopicRuleDestinations implements HttpDestinations {
  private readonly store: DestinationStore;
  private readonly now: () => number;
  /** Status by normalised confirmation URL, per namespace: the action checks it for every message. */
  private readonly cache = new Map<string, Map<string, DestinationStatus>>();

  constructor(private readonly opts: DestinationsOptions) {
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
  }

  // ---- what the http action uses ----

  status(ns: Namespace, confirmationUrl: string): DestinationStatus | undefined {
    return this.statuses(ns).get(normalizedUrl(confirmationUrl) ?? confirmationUrl);
  }

  trusted(url: string): boolean {
    return this.opts.trustedUrlPrefixes.some((p) => urlUnder(url, p));
  }

  // ---- what URL functions use ----

  /**
   * Whether the account may have the server send to `url` and read the answer (a URL function): the
   * URL is under a trusted prefix, or under the confirmation URL of one of its ENABLED destinations,
   * the same consent the http action needs. Anything else would let an API key probe the server's
   * network.
   */
  allows(ns: Namespace, url: string): boolean {
    let covered = false;
    for (const [confirmationUrl, status] of this.statuses(ns)) {
      if (!urlUnder(url, confirmationUrl)) continue;
      if (status === 'ENABLED') return true;
      covered = true;
    }
    // As for the http action: a destination that is not ENABLED withdraws what a trusted prefix grants.
    return !covered && this.trusted(url);
  }

  ensure(ns: Namespace, confirmationUrl: string): void {
    if (urlProblem(confirmationUrl) !== undefined) return;
    if (this.status(ns, confirmationUrl) !== undefined) return;
    try {
      this.add(ns, confirmationUrl);
    } catch (err) {
      // A destination limit reached here leaves the action failing with "no destination", which says why.
      this.opts.log.warn(
        { account: ns.accountId, err: (err as Error).message },
        'could not create the topic rule destination of an http action',
      );
    }
  }

  clear(): void {
    this.store.clear();
    this.cache.clear();
  }

  // ---- the control plane ----

  create(ns: Namespace, body: Record<string, unknown>): { topicRuleDestination: Record<string, unknown> } {
    const config = body.destinationConfiguration;
    if (config === undefined || config === null) violation('destinationConfiguration', config, 'Member must not be null');
    if (typeof config !== 'object' || Array.isArray(config)) violation('destinationConfiguration', config, 'Member must be a structure');
    const c = config as Record<string, unknown>;
    if (c.vpcConfiguration !== undefined && c.vpcConfiguration !== null) {
      throw invalidRequest(
        'VPC destinations (vpcConfiguration) are not supported by Thicket: it reaches endpoints directly. Use httpUrlConfiguration for an http action.',
      );
    }
    const http = c.httpUrlConfiguration;
    if (http === undefined || http === null)
      throw invalidRequest('destinationConfiguration must have httpUrlConfiguration (the only kind of destination Thicket has)');
    if (typeof http !== 'object' || Array.isArray(http))
      violation('destinationConfiguration.httpUrlConfiguration', http, 'Member must be a structure');
    const url = (http as Record<string, unknown>).confirmationUrl;
    const member = 'destinationConfiguration.httpUrlConfiguration.confirmationUrl';
    if (url === undefined || url === null) violation(member, url, 'Member must not be null');
    if (typeof url !== 'string') violation(member, url, 'Member must be a string');
    if (url.length > MAX_URL) violation(member, `${url.slice(0, 64)}...`, `Member must have length less than or equal to ${MAX_URL}`);
    const problem = urlProblem(url);
    if (problem) throw invalidRequest(`The confirmation URL '${url}' is not valid: ${problem}`);
    const existing = this.store.list(ns).find((d) => (normalizedUrl(d.confirmationUrl) ?? d.confirmationUrl) === normalizedUrl(url));
    if (existing) {
      const arn = destinationArn(ns, existing.id);
      throw alreadyExists(`Topic rule destination with confirmation URL ${url} already exists`, existing.id, arn);
    }
    return { topicRuleDestination: this.view(this.add(ns, url)) };
  }

  get(ns: Namespace, arn: string | undefined): { topicRuleDestination: Record<string, unknown> } {
    return { topicRuleDestination: this.view(this.must(ns, arn)) };
  }

  list(ns: Namespace, query: Record<string, string | undefined>): { destinationSummaries: Record<string, unknown>[]; nextToken?: string } {
    const size = pageSize(query.maxResults, 'maxResults', MAX_PAGE, MAX_PAGE);
    const start = decodeToken<number>(query.nextToken, 'nextToken') ?? 0;
    if (typeof start !== 'number' || start < 0) throw invalidRequest('The nextToken is not valid');
    const all = this.store.list(ns);
    const page = all.slice(start, start + size);
    const out: { destinationSummaries: Record<string, unknown>[]; nextToken?: string } = {
      destinationSummaries: page.map((d) => {
        const { httpUrlProperties, ...rest } = this.view(d);
        return { ...rest, httpUrlSummary: httpUrlProperties };
      }),
    };
    if (start + size < all.length) out.nextToken = encodeToken(start + size);
    return out;
  }

  update(ns: Namespace, body: Record<string, unknown>): Record<string, never> {
    const { arn, status } = body;
    if (arn === undefined || arn === null) violation('arn', arn, 'Member must not be null');
    if (typeof arn !== 'string') violation('arn', arn, 'Member must be a string');
    if (status === undefined || status === null) violation('status', status, 'Member must not be null');
    if (typeof status !== 'string' || !STATUSES.includes(status as DestinationStatus))
      violation('status', status, `Member must satisfy enum value set: [${STATUSES.join(', ')}]`);
    const d = this.must(ns, arn);
    const to = status as DestinationStatus;
    if (to === 'ERROR' || to === 'DELETING') throw invalidRequest(`The status of a topic rule destination cannot be set to ${to}`);
    if (to === 'ENABLED' && d.status !== 'ENABLED' && d.status !== 'DISABLED' && !this.trusted(d.confirmationUrl)) {
      // Enabling without the token would make the confirmation pointless: it proves the endpoint wants the traffic.
      throw invalidRequest(
        `Topic rule destination ${arn} is ${d.status}: confirm it first with ConfirmTopicRuleDestination and the token sent to ${d.confirmationUrl}`,
      );
    }
    if (to === 'IN_PROGRESS') {
      this.challenge(d);
      return {};
    }
    this.save({ ...d, status: to, statusReason: null, tokenSha256: to === 'ENABLED' ? null : d.tokenSha256, updatedAt: this.now() });
    return {};
  }

  delete(ns: Namespace, arn: string | undefined): Record<string, never> {
    const d = this.must(ns, arn);
    this.store.delete(ns, d.id);
    this.cache.delete(nsKey(ns));
    return {};
  }

  confirm(ns: Namespace, token: string | undefined): Record<string, never> {
    const d = token ? this.store.byToken(ns, sha256(token)) : undefined;
    if (!d) throw invalidRequest('The confirmation token is not valid, or its destination was confirmed already');
    this.save({ ...d, status: 'ENABLED', statusReason: null, tokenSha256: null, updatedAt: this.now() });
    return {};
  }

  // ---- internals ----

  private statuses(ns: Namespace): Map<string, DestinationStatus> {
    const key = nsKey(ns);
    let byUrl = this.cache.get(key);
    if (!byUrl) {
      byUrl = new Map();
      for (const d of this.store.list(ns)) byUrl.set(normalizedUrl(d.confirmationUrl) ?? d.confirmationUrl, d.status);
      this.cache.set(key, byUrl);
    }
    return byUrl;
  }

  private must(ns: Namespace, arn: string | undefined): DestinationRow {
    const m = /^arn:aws:iot:([a-z0-9-]+):(\d{12}):ruledestination\/http\/([0-9a-f-]{36})$/.exec(arn ?? '');
    const d = m && m[1] === ns.region && m[2] === ns.accountId ? this.store.get(ns, m[3]!) : undefined;
    // As for rules: one that does not exist (or is another account's) is one the caller may not see.
    if (!d) throw unauthorized(`Access to topic rule destination '${arn ?? ''}' was denied`);
    return d;
  }

  private save(d: DestinationRow): void {
    this.store.put(d);
    this.cache.delete(nsKey(d.ns));
  }

  private add(ns: Namespace, url: string): DestinationRow {
    if (this.store.count(ns) >= MAX_DESTINATIONS)
      throw limitExceeded(`An account may have at most ${MAX_DESTINATIONS} topic rule destinations in a region`);
    const now = this.now();
    const d: DestinationRow = {
      ns,
      id: randomUUID(),
      confirmationUrl: url,
      status: 'IN_PROGRESS',
      statusReason: null,
      tokenSha256: null,
      createdAt: now,
      updatedAt: now,
    };
    if (this.trusted(url)) {
      this.save({ ...d, status: 'ENABLED' });
      return { ...d, status: 'ENABLED' };
    }
    return this.challenge(d);
  }

  /** Puts the destination IN_PROGRESS with a new token and sends the token to its URL. */
  private challenge(d: DestinationRow): DestinationRow {
    const token = randomBytes(48).toString('base64url');
    const row: DestinationRow = { ...d, status: 'IN_PROGRESS', statusReason: null, tokenSha256: sha256(token), updatedAt: this.now() };
    this.save(row);
    void this.sendConfirmation(row, token);
    return row;
  }

  private async sendConfirmation(d: DestinationRow, token: string): Promise<void> {
    const arn = destinationArn(d.ns, d.id);
    const url = new URL(d.confirmationUrl);
    url.searchParams.set('confirmationToken', token);
    const body = JSON.stringify({
      arn,
      confirmationToken: token,
      enableUrl: `${this.opts.apiBase()}/confirmdestination/${token}`,
      messageType: 'DestinationConfirmation',
    });
    const headers = {
      'content-type': 'application/json',
      'x-amz-rules-engine-message-type': 'DestinationConfirmation',
      'x-amz-rules-engine-destination-arn': arn,
    };
    let reason: string;
    try {
      await postWithRetries(url, headers, Buffer.from(body), CONFIRMATION_TIMEOUT_MS);
      return;
    } catch (err) {
      // An endpoint that echoes the token in its answer must not get it into logs or statusReason.
      reason = (err as Error).message.split(token).join('<token>');
    }
    // Only if this challenge is still the one awaited (not confirmed, deleted or re-sent meanwhile).
    const now = this.store.get(d.ns, d.id);
    if (!now || now.tokenSha256 !== d.tokenSha256 || now.status !== 'IN_PROGRESS') return;
    // The URL (without the token) and the reason only: the token is never logged.
    this.opts.log.info(
      { account: d.ns.accountId, destination: arn, url: d.confirmationUrl, reason },
      'destination confirmation not delivered',
    );
    this.save({
      ...now,
      status: 'ERROR',
      statusReason: `The confirmation message could not be delivered to ${d.confirmationUrl}: ${reason}`,
      updatedAt: this.now(),
    });
  }

  private view(d: DestinationRow): Record<string, unknown> & { httpUrlProperties: { confirmationUrl: string } } {
    return {
      arn: destinationArn(d.ns, d.id),
      status: d.status,
      ...(d.statusReason !== null ? { statusReason: d.statusReason } : {}),
      createdAt: d.createdAt / 1000,
      lastUpdatedAt: d.updatedAt / 1000,
      httpUrlProperties: { confirmationUrl: d.confirmationUrl },
    };
  }
}
