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
import { AwsError, alreadyExists, invalidRequest, limitExceeded, unauthorized } from '../../aws/errors.js';
import { postWithRetries } from '../actions/http-request.js';
import { Serial } from '../serial.js';
import type { DestinationRow, DestinationStatus, DestinationStore } from './destination-store.js';
import { normalizedUrl, urlProblem, urlUnder } from './urls.js';

const STATUSES: readonly DestinationStatus[] = ['ENABLED', 'IN_PROGRESS', 'DISABLED', 'ERROR', 'DELETING'];
const MAX_URL = 2000;
const MAX_DESTINATIONS = 1000;
const MAX_PAGE = 1000;
const CONFIRMATION_TIMEOUT_MS = 4000;
/** Tries of a conditional write that another node's change to the destination made miss. */
const MAX_ATTEMPTS = 5;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

export const destinationArn = (ns: Namespace, id: string): string => iotArn(ns, `ruledestination/http/${id}`);

const conflicting = (arn: string): AwsError =>
  new AwsError('ConflictingResourceUpdateException', 409, `Topic rule destination ${arn} is being changed by another request; try again`);

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
  /** Creates the destination of `confirmationUrl` unless one exists (a rule with an http action was saved); never rejects. */
  ensure(ns: Namespace, confirmationUrl: string): Promise<void>;
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
  /** The writes (and reloads), one at a time: what the store holds follows the database's order. */
  private readonly serial = new Serial();

  constructor(private readonly opts: DestinationsOptions) {
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
  }

  // ---- what the http action uses ----

  status(ns: Namespace, confirmationUrl: string): DestinationStatus | undefined {
    return this.store.statuses(ns).get(normalizedUrl(confirmationUrl) ?? confirmationUrl);
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
    for (const [confirmationUrl, status] of this.store.statuses(ns)) {
      if (!urlUnder(url, confirmationUrl)) continue;
      if (status === 'ENABLED') return true;
      covered = true;
    }
    // As for the http action: a destination that is not ENABLED withdraws what a trusted prefix grants.
    return !covered && this.trusted(url);
  }

  async ensure(ns: Namespace, confirmationUrl: string): Promise<void> {
    if (urlProblem(confirmationUrl) !== undefined) return;
    if (this.status(ns, confirmationUrl) !== undefined) return;
    try {
      await this.serial.run(() => (this.status(ns, confirmationUrl) === undefined ? this.add(ns, confirmationUrl) : undefined));
    } catch (err) {
      // Another node made it meanwhile: it exists, as asked.
      if (err instanceof AwsError && err.code === 'ResourceAlreadyExistsException') return;
      // A destination limit reached here leaves the action failing with "no destination", which says why.
      this.opts.log.warn(
        { account: ns.accountId, err: (err as Error).message },
        'could not create the topic rule destination of an http action',
      );
    }
  }

  /** Test-mode reset: every destination (on SQLite, deleted at once, inside the platform's transaction). */
  clear(): Promise<unknown> {
    return this.store.clear();
  }

  /** Reads the destinations again (another node may have changed them). */
  reload(): Promise<void> {
    return this.serial.run(() => this.store.reload());
  }

  // ---- the control plane ----

  async create(ns: Namespace, body: Record<string, unknown>): Promise<{ topicRuleDestination: Record<string, unknown> }> {
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
    const created = await this.serial.run(() => {
      const existing = this.store.list(ns).find((d) => (normalizedUrl(d.confirmationUrl) ?? d.confirmationUrl) === normalizedUrl(url));
      if (existing) throw this.exists(url, existing);
      return this.add(ns, url);
    });
    return { topicRuleDestination: this.view(created) };
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

  async update(ns: Namespace, body: Record<string, unknown>): Promise<Record<string, never>> {
    const { arn, status } = body;
    if (arn === undefined || arn === null) violation('arn', arn, 'Member must not be null');
    if (typeof arn !== 'string') violation('arn', arn, 'Member must be a string');
    if (status === undefined || status === null) violation('status', status, 'Member must not be null');
    if (typeof status !== 'string' || !STATUSES.includes(status as DestinationStatus))
      violation('status', status, `Member must satisfy enum value set: [${STATUSES.join(', ')}]`);
    const to = status as DestinationStatus;
    await this.serial.run(async () => {
      let d: DestinationRow | undefined = this.must(ns, arn);
      // Each write is conditional on the status and token checked: another node may change them meanwhile.
      for (let attempt = 1; ; attempt++) {
        if (!d) throw this.denied(arn);
        if (to === 'ERROR' || to === 'DELETING') throw invalidRequest(`The status of a topic rule destination cannot be set to ${to}`);
        if (to === 'ENABLED' && d.status !== 'ENABLED' && d.status !== 'DISABLED' && !this.trusted(d.confirmationUrl)) {
          // Enabling without the token would make the confirmation pointless: it proves the endpoint wants the traffic.
          throw invalidRequest(
            `Topic rule destination ${arn} is ${d.status}: confirm it first with ConfirmTopicRuleDestination and the token sent to ${d.confirmationUrl}`,
          );
        }
        // IN_PROGRESS sends a new token.
        const token = to === 'IN_PROGRESS' ? randomBytes(48).toString('base64url') : undefined;
        const next: DestinationRow = {
          ...d,
          status: to,
          statusReason: null,
          tokenSha256: token !== undefined ? sha256(token) : to === 'ENABLED' ? null : d.tokenSha256,
          updatedAt: this.now(),
        };
        if (await this.store.update(next, { status: d.status, tokenSha256: d.tokenSha256 })) {
          if (token !== undefined) void this.sendConfirmation(next, token);
          return;
        }
        if (attempt === MAX_ATTEMPTS) throw conflicting(arn);
        d = await this.store.fetch(ns, d.id);
      }
    });
    return {};
  }

  async delete(ns: Namespace, arn: string | undefined): Promise<Record<string, never>> {
    const d = this.must(ns, arn);
    await this.serial.run(() => this.store.delete(ns, d.id));
    return {};
  }

  async confirm(ns: Namespace, token: string | undefined): Promise<Record<string, never>> {
    const invalid = (): AwsError => invalidRequest('The confirmation token is not valid, or its destination was confirmed already');
    if (!token) throw invalid();
    const tokenSha256 = sha256(token);
    await this.serial.run(async () => {
      // Read from the database: the token comes back through any node, whichever sent it.
      const d = await this.store.byToken(ns, tokenSha256);
      if (!d) throw invalid();
      const enabled: DestinationRow = { ...d, status: 'ENABLED', statusReason: null, tokenSha256: null, updatedAt: this.now() };
      // Only while the token is still the one awaited: confirmed, re-sent or deleted meanwhile, it is not.
      if (!(await this.store.update(enabled, { status: d.status, tokenSha256 }))) throw invalid();
    });
    return {};
  }

  // ---- internals ----

  /** As for rules: one that does not exist (or is another account's) is one the caller may not see. */
  private denied(arn: string | undefined): AwsError {
    return unauthorized(`Access to topic rule destination '${arn ?? ''}' was denied`);
  }

  private must(ns: Namespace, arn: string | undefined): DestinationRow {
    const m = /^arn:aws:iot:([a-z0-9-]+):(\d{12}):ruledestination\/http\/([0-9a-f-]{36})$/.exec(arn ?? '');
    const d = m && m[1] === ns.region && m[2] === ns.accountId ? this.store.get(ns, m[3]!) : undefined;
    if (!d) throw this.denied(arn);
    return d;
  }

  private exists(url: string, d: DestinationRow): AwsError {
    return alreadyExists(`Topic rule destination with confirmation URL ${url} already exists`, d.id, destinationArn(d.ns, d.id));
  }

  /** Creates a destination: ENABLED under a trusted prefix, else IN_PROGRESS with its confirmation sent. Runs in `serial`. */
  private add(ns: Namespace, url: string): Promise<DestinationRow> {
    // The count and the insert as one, against creates at once on other nodes (`serial` keeps this node's apart).
    return this.store.sql.exclusive(`destinations:${ns.accountId}:${ns.region}`, async () => {
      if ((await this.store.countStored(ns)) >= MAX_DESTINATIONS)
        throw limitExceeded(`An account may have at most ${MAX_DESTINATIONS} topic rule destinations in a region`);
      return this.insert(ns, url);
    });
  }

  private async insert(ns: Namespace, url: string): Promise<DestinationRow> {
    const now = this.now();
    const token = this.trusted(url) ? undefined : randomBytes(48).toString('base64url');
    const d: DestinationRow = {
      ns,
      id: randomUUID(),
      confirmationUrl: url,
      status: token === undefined ? 'ENABLED' : 'IN_PROGRESS',
      statusReason: null,
      tokenSha256: token === undefined ? null : sha256(token),
      createdAt: now,
      updatedAt: now,
    };
    if (!(await this.store.insert(d))) {
      // Another node made the destination of this very URL; the store has learnt it.
      const existing = this.store.byUrl(ns, url);
      throw existing ? this.exists(url, existing) : alreadyExists(`Topic rule destination with confirmation URL ${url} already exists`);
    }
    if (token !== undefined) void this.sendConfirmation(d, token);
    return d;
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
    const failed: DestinationRow = {
      ...d,
      status: 'ERROR',
      statusReason: `The confirmation message could not be delivered to ${d.confirmationUrl}: ${reason}`,
      updatedAt: this.now(),
    };
    let marked: boolean;
    try {
      // Only if this challenge is still the one awaited (not confirmed, deleted or re-sent meanwhile, by any node).
      marked = await this.serial.run(() => this.store.update(failed, { status: 'IN_PROGRESS', tokenSha256: d.tokenSha256 }));
    } catch (err) {
      this.opts.log.warn({ account: d.ns.accountId, destination: arn, err: (err as Error).message }, 'could not mark a destination ERROR');
      return;
    }
    if (!marked) return;
    // The URL (without the token) and the reason only: the token is never logged.
    this.opts.log.info(
      { account: d.ns.accountId, destination: arn, url: d.confirmationUrl, reason },
      'destination confirmation not delivered',
    );
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
