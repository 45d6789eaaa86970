/**
 * The rules engine: sees every routed message through the broker's tap, queues the ones a rule
 * wants, and evaluates them off the routing path (a drain loop that yields to I/O between slices).
 * Actions run concurrently with a bound per action, so a slow endpoint delays nobody else: what it
 * cannot take fails at once and goes to the error action, and everything dropped is counted.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { TopicTree, type Message, type MessageTap, type Publisher, type PublishInput } from '@thicket/broker';
import { outputBytes, topicMatches, type EvaluationResult, type MqttProperties, type SqlMessage } from '@thicket/iot-sql';
import type { Logger } from 'pino';
import { mountOf, type Namespace } from '../accounts/namespace.js';
import type { ActionMessage, ActionServices } from './actions/types.js';
import { closeRule, type CompiledAction, type CompiledRule } from './compiled-rule.js';
import { errorDocument, type Failure } from './error-document.js';
import type { RuleCounters, RuleMetrics } from './rule-metrics.js';

const BASIC_INGEST = '$aws/rules/';
/** Messages waiting for evaluation before new ones are dropped (and counted). */
const MAX_QUEUED = 100_000;
/** Messages of one action in flight before more fail at once (a slow endpoint must not hold everything). */
const MAX_IN_FLIGHT_PER_ACTION = 1_000;
/** Republished by rules this many times in a row: a loop, cut off. */
const MAX_HOPS = 8;
/** One drain slice: at most this long before yielding to I/O. */
const SLICE_MS = 4;

interface Installed extends CompiledRule {
  counters: RuleCounters;
  inFlight: number[];
}

interface MountRules {
  tree: TopicTree<Installed>;
  byName: Map<string, Installed>;
}

interface Job {
  rule: Installed;
  msg: Message;
  publisher: Publisher | undefined;
  /** The topic the SQL sees (Basic Ingest: without `$aws/rules/<rule>/`). */
  topic: string;
  hops: number;
}

export class RulesEngine implements MessageTap {
  private readonly mounts = new Map<string, MountRules>();
  private queue: Job[] = [];
  private head = 0;
  private scheduled = false;
  /** Rule hops of the message an action is publishing right now (set around the synchronous publish). */
  private publishingHops = 0;
  private lastDropLog = 0;
  readonly services: ActionServices;

  constructor(
    services: Omit<ActionServices, 'publish'>,
    private readonly metrics: RuleMetrics,
    private readonly log: Logger,
  ) {
    this.services = { ...services, publish: (from, input) => this.publishFrom(from, input) };
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Installs (or replaces) a compiled rule: the next message sees it. */
  install(rule: CompiledRule): void {
    let m = this.mounts.get(rule.mount);
    if (!m) this.mounts.set(rule.mount, (m = { tree: new TopicTree<Installed>(true), byName: new Map() }));
    this.uninstall(rule.ns, rule.name);
    const installed: Installed = {
      ...rule,
      counters: this.metrics.forRule(rule.ns.accountId, rule.name),
      inFlight: rule.actions.map(() => 0).concat(0),
    };
    m.byName.set(rule.name, installed);
    if (rule.statement.from !== undefined) m.tree.add(rule.statement.from, installed);
  }

  uninstall(ns: Namespace, name: string): void {
    const m = this.mounts.get(mountOf(ns));
    const old = m?.byName.get(name);
    if (!m || !old) return;
    m.byName.delete(name);
    if (old.statement.from !== undefined) m.tree.remove(old.statement.from, old);
    closeRule(old);
  }

  installed(ns: Namespace, name: string): CompiledRule | undefined {
    return this.mounts.get(mountOf(ns))?.byName.get(name);
  }

  /** Forgets every rule (test-mode reset). */
  clear(): void {
    for (const m of this.mounts.values()) for (const r of m.byName.values()) closeRule(r);
    this.mounts.clear();
  }

  // ---- the tap: on the routing path, so it only matches and queues ----

  message(mount: string, msg: Message, publisher: Publisher | undefined): boolean {
    const topic = msg.topic;
    if (topic.startsWith(BASIC_INGEST)) {
      // `$aws/rules/<ruleName>/<rest>` reaches that rule only and no subscriber (AWS Basic Ingest).
      const end = topic.indexOf('/', BASIC_INGEST.length);
      const name = topic.slice(BASIC_INGEST.length, end < 0 ? undefined : end);
      const rule = this.mounts.get(mount)?.byName.get(name);
      if (rule && !rule.disabled) this.enqueue(rule, msg, publisher, end < 0 ? '' : topic.slice(end + 1));
      return true;
    }
    const m = this.mounts.get(mount);
    if (m === undefined || m.byName.size === 0) return false;
    m.tree.match(topic, {
      onSubscription: (rule) => {
        if (!rule.disabled && topicMatches(rule.statement.from!, topic)) this.enqueue(rule, msg, publisher, topic);
      },
      onSharedGroup() {},
    });
    return false;
  }

  private enqueue(rule: Installed, msg: Message, publisher: Publisher | undefined, topic: string): void {
    rule.counters.matched.inc();
    const hops = this.publishingHops;
    if (hops > MAX_HOPS) return this.drop('loop', rule, `a message republished by rules ${hops} times in a row`);
    if (this.queued >= MAX_QUEUED) return this.drop('queue_full', rule, `${MAX_QUEUED} messages are waiting for evaluation`);
    this.queue.push({ rule, msg, publisher, topic, hops });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drop(reason: 'queue_full' | 'loop', rule: Installed, why: string): void {
    this.metrics.drop(reason);
    const now = Date.now();
    if (now - this.lastDropLog >= 10_000) {
      this.lastDropLog = now;
      this.log.warn({ rule: rule.name, account: rule.ns.accountId, reason }, `rules engine dropped a message: ${why}`);
    }
  }

  private drain(): void {
    this.scheduled = false;
    const until = performance.now() + SLICE_MS;
    while (this.head < this.queue.length) {
      const job = this.queue[this.head]!;
      this.queue[this.head++] = undefined as never;
      try {
        const done = this.process(job);
        if (done) done.catch((err: unknown) => this.log.error({ err, rule: job.rule.name }, 'rule evaluation failed'));
      } catch (err) {
        this.log.error({ err, rule: job.rule.name }, 'rule evaluation failed');
      }
      if ((this.head & 63) === 0 && performance.now() >= until) break;
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else {
      if (this.head > 4096) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Evaluates one message for one rule; returns a Promise only when something had to wait. */
  private process(job: Job): Promise<void> | undefined {
    const { rule, msg, publisher } = job;
    const message: SqlMessage = {
      topic: job.topic,
      payload: msg.payload,
      clientId: publisher?.clientId,
      principal: publisher?.principal,
      accountId: rule.ns.accountId,
      sourceIp: publisher?.transport?.remoteAddress,
      traceId: randomUUID(),
      timestamp: msg.createdAt,
      properties: sqlProperties(msg),
    };
    const started = performance.now();
    const r = rule.statement.evaluate(message);
    if (r instanceof Promise) return r.then((res) => this.evaluated(job, message, res, started));
    return this.evaluated(job, message, r, started);
  }

  private evaluated(job: Job, message: SqlMessage, r: EvaluationResult, started: number): Promise<void> | undefined {
    const rule = job.rule;
    rule.counters.evaluation.observe((performance.now() - started) / 1000);
    const failures: Failure[] = r.errors.map((e) => ({ failedAction: 'SQL', failedResource: e.function, errorMessage: e.message }));
    const output = r.matched && r.kind !== 'undefined';
    if (!output) rule.counters.noOutput.inc();
    if (!output || rule.actions.length === 0) {
      return failures.length > 0 ? this.runErrorAction(job, message, failures) : undefined;
    }
    const payload = Buffer.from(outputBytes(r));
    const base: ActionMessage = {
      ns: rule.ns,
      mount: rule.mount,
      ruleName: rule.name,
      message,
      publishedTopic: job.msg.topic,
      properties: job.msg.properties,
      payload,
      json: r.kind !== 'binary',
      result: r,
      render: (t) => t.render(message, r.variables),
      hops: job.hops,
    };
    const runs = rule.actions.map((a, i) => this.runAction(rule, a, i, base));
    return Promise.all(runs).then((outcomes) => {
      for (const f of outcomes) if (f) failures.push(f);
      if (failures.length > 0) return this.runErrorAction(job, message, failures);
    });
  }

  /** Runs one action; resolves to its failure, or undefined when it succeeded. */
  private async runAction(rule: Installed, a: CompiledAction, index: number, m: ActionMessage): Promise<Failure | undefined> {
    const name = a.kind.key;
    const started = performance.now();
    if (rule.inFlight[index]! >= MAX_IN_FLIGHT_PER_ACTION) {
      this.metrics.action(rule.ns.accountId, rule.name, name, false, 0);
      return failure(a, `${MAX_IN_FLIGHT_PER_ACTION} messages of this action are already in flight; it cannot keep up`, a.runner.resource);
    }
    rule.inFlight[index]!++;
    try {
      await a.runner.run(m);
      this.metrics.action(rule.ns.accountId, rule.name, name, true, (performance.now() - started) / 1000);
      return undefined;
    } catch (err) {
      this.metrics.action(rule.ns.accountId, rule.name, name, false, (performance.now() - started) / 1000);
      const e = err as Error & { resource?: string };
      return failure(a, e.message ?? String(err), e.resource ?? a.runner.resource);
    } finally {
      rule.inFlight[index]!--;
    }
  }

  private async runErrorAction(job: Job, message: SqlMessage, failures: Failure[]): Promise<void> {
    const rule = job.rule;
    const ea = rule.errorAction;
    if (!ea) {
      this.log.debug({ rule: rule.name, account: rule.ns.accountId, failures }, 'rule action failed; the rule has no error action');
      return;
    }
    const doc = errorDocument(rule.name, job.msg.topic, message, job.msg.payload, failures);
    const m: ActionMessage = {
      ns: rule.ns,
      mount: rule.mount,
      ruleName: rule.name,
      message,
      publishedTopic: job.msg.topic,
      properties: job.msg.properties,
      payload: Buffer.from(JSON.stringify(doc)),
      json: true,
      result: undefined,
      render: (t) => t.render(message),
      hops: job.hops,
    };
    const f = await this.runAction(rule, ea, rule.actions.length, m);
    this.metrics.errorAction(rule.ns.accountId, rule.name, f === undefined);
    if (f) this.log.warn({ rule: rule.name, account: rule.ns.accountId, failure: f }, 'the error action of a rule failed too');
  }

  private publishFrom(from: ActionMessage, input: PublishInput): boolean {
    const broker = this.services.broker();
    if (!broker) throw new Error('The broker is not running');
    const saved = this.publishingHops;
    this.publishingHops = from.hops + 1;
    try {
      return broker.publish(input);
    } finally {
      this.publishingHops = saved;
    }
  }
}

function failure(a: CompiledAction, errorMessage: string, resource: string): Failure {
  return { failedAction: a.kind.awsName, failedResource: resource, errorMessage };
}

function sqlProperties(msg: Message): MqttProperties | undefined {
  const p = msg.properties;
  if (
    p.payloadFormatIndicator === undefined &&
    p.contentType === undefined &&
    p.responseTopic === undefined &&
    p.correlationData === undefined &&
    p.userProperties === undefined
  ) {
    return undefined;
  }
  return {
    payloadFormatIndicator: p.payloadFormatIndicator,
    contentType: p.contentType,
    responseTopic: p.responseTopic,
    correlationData: p.correlationData,
    userProperties: p.userProperties,
  };
}
