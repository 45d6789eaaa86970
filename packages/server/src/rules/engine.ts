/**
 * The rules engine: sees every routed message through the broker's tap, queues the ones a rule
 * wants, and evaluates them off the routing path (a drain loop that yields to I/O between slices).
 * Actions run concurrently with a bound per action, so a slow endpoint delays nobody else: what it
 * cannot take fails at once and goes to the error action, and everything dropped is counted.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { TopicTree, type Message, type MessageProperties, type MessageTap, type Publisher, type PublishInput } from '@thicket/broker';
import { outputBytes, type EvaluationResult, type MqttProperties, type SqlMessage } from '@thicket/iot-sql';
import type { Logger } from 'pino';
import { mountOf, type Namespace } from '../accounts/namespace.js';
import type { ActionMessage, ActionServices } from './actions/types.js';
import { closeRule, type CompiledAction, type CompiledRule } from './compiled-rule.js';
import { errorDocument, type Failure } from './error-document.js';
import type { DropReason, RuleCounters, RuleMetrics } from './rule-metrics.js';
import { DEFAULT_RULES_SETTINGS, type RuleEngineSettings } from './rules-config.js';

const BASIC_INGEST = '$aws/rules/';
/** Republished by rules this many times in a row: a loop, cut off. */
const MAX_HOPS = 8;
/*
 * How the engine shares the event loop with the router (settings `cpuShare`, `maxSliceMs`). It runs
 * on credit: time the loop spent idle is all the engine's, and of the time the rest of the loop was
 * busy it gets cpuShare (the router keeps the rest); each slice spends credit. Out of credit, it
 * waits on a timer, so that an idle loop can block in poll and show as idle. A busy router
 * therefore loses at most about cpuShare to the rules, an idle one lends the engine the whole core,
 * and what the rules cannot keep up with is dropped and counted. (A minimum slice per loop turn was
 * tried first: with a busy router the turns are short, and the minimum alone took a fifth of the
 * core. With a share of a fifth, a saturated fan-in with 10 rules routed at 0.61x of the same run
 * without; a tenth, the default, 0.77x.) maxSliceMs bounds how long routing waits behind the
 * engine when it wakes from idle.
 */
/** Idle time that counts as "the loop had nothing else to do": the engine may take a whole slice. */
const IDLE_MS = 0.5;

interface Installed extends CompiledRule {
  counters: RuleCounters;
  inFlight: number[];
  /** Replaced or deleted (its runners are closed): messages still queued for it go to what replaced it, if anything. */
  removed: boolean;
}

interface MountRules {
  tree: TopicTree<Installed>;
  byName: Map<string, Installed>;
  /**
   * The enabled rules each recently seen topic matches (shared, never changed: jobs hold them).
   * Matching walked the tree for every message and was a tenth of the router's time with 10 rules;
   * devices publish to the same topics over and over. Emptied when a rule changes or it is full.
   */
  matches: Map<string, Installed[]>;
}

/** Topics whose matching rules are remembered per namespace. */
const MAX_CACHED_TOPICS = 10_000;
const NO_RULES: Installed[] = [];

/** One message and the rules it matched: one allocation per message, whatever the number of rules. */
interface Job {
  rules: Installed[];
  /** The next of `rules` to evaluate (a drain slice may end between two). */
  next: number;
  msg: QueuedMessage;
  publisher: Publisher | undefined;
  /** The topic the SQL sees (Basic Ingest: without `$aws/rules/<rule>/`). */
  topic: string;
  hops: number;
}

/** What a job keeps of a routed message. */
interface QueuedMessage {
  topic: string;
  payload: Buffer;
  properties: MessageProperties;
  createdAt: number;
}

/**
 * The payload a queued job keeps: a copy when it is a view into a larger buffer (a socket read),
 * which the job would otherwise keep alive, and old-generation garbage collection of those chunks
 * cost the router more than the rules themselves while the queue was full.
 */
function ownPayload(payload: Buffer): Buffer {
  return payload.byteLength * 2 < payload.buffer.byteLength ? Buffer.from(payload) : payload;
}

/** What an evaluation of one rule on one message carries to its actions and error action. */
interface Evaluation {
  rule: Installed;
  job: Job;
  message: SqlMessage;
}

export class RulesEngine implements MessageTap {
  private readonly mounts = new Map<string, MountRules>();
  private queue: Job[] = [];
  private head = 0;
  private scheduled = false;
  /** Rule evaluations in the queue. */
  private pending = 0;
  /** The rules matched by the message being tapped (reused: the tap allocates only the job). */
  private matched: Installed[] = [];
  private readonly collect = {
    onSubscription: (rule: Installed) => {
      if (!rule.disabled) this.matched.push(rule);
    },
    onSharedGroup() {},
  };
  /** Rule hops of the message an action is publishing right now (set around the synchronous publish). */
  private publishingHops = 0;
  private lastDropLog = 0;
  /** The loop's busy and idle time at the previous slice, the previous slice's length, and the credit left. */
  private lastElu = performance.eventLoopUtilization();
  private lastSlice = 0;
  private credit = 0;
  readonly services: ActionServices;

  constructor(
    services: Omit<ActionServices, 'publish'>,
    private readonly metrics: RuleMetrics,
    private readonly log: Logger,
    private readonly settings: RuleEngineSettings = DEFAULT_RULES_SETTINGS.engine,
  ) {
    this.services = { ...services, publish: (from, input) => this.publishFrom(from, input) };
  }

  get queued(): number {
    return this.pending;
  }

  /** Installs (or replaces) a compiled rule: the next message sees it. */
  install(rule: CompiledRule): void {
    let m = this.mounts.get(rule.mount);
    if (!m) this.mounts.set(rule.mount, (m = { tree: new TopicTree<Installed>(true), byName: new Map(), matches: new Map() }));
    this.remove(rule.ns, rule.name, false);
    const installed: Installed = {
      ...rule,
      counters: this.metrics.forRule(
        rule.ns.accountId,
        rule.name,
        rule.actions.map((a) => a.kind.key),
        rule.errorAction?.kind.key,
      ),
      inFlight: rule.actions.map(() => 0).concat(0),
      removed: false,
    };
    m.byName.set(rule.name, installed);
    if (rule.statement.from !== undefined) m.tree.add(rule.statement.from, installed);
    m.matches.clear();
  }

  uninstall(ns: Namespace, name: string): void {
    this.remove(ns, name, true);
  }

  /** Takes a rule out; its counters go too unless it is being replaced. */
  private remove(ns: Namespace, name: string, forgetCounters: boolean): void {
    const m = this.mounts.get(mountOf(ns));
    const old = m?.byName.get(name);
    if (!m || !old) return;
    m.byName.delete(name);
    old.removed = true;
    if (forgetCounters) this.metrics.forget(ns.accountId, name);
    if (old.statement.from !== undefined) m.tree.remove(old.statement.from, old);
    m.matches.clear();
    closeRule(old);
  }

  installed(ns: Namespace, name: string): CompiledRule | undefined {
    return this.mounts.get(mountOf(ns))?.byName.get(name);
  }

  /** Forgets every rule (test-mode reset). */
  clear(): void {
    for (const m of this.mounts.values())
      for (const r of m.byName.values()) {
        r.removed = true;
        closeRule(r);
      }
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
      if (rule && !rule.disabled) this.enqueue([rule], msg, publisher, end < 0 ? '' : topic.slice(end + 1));
      return true;
    }
    const m = this.mounts.get(mount);
    if (m === undefined || m.byName.size === 0) return false;
    let rules = m.matches.get(topic);
    if (rules === undefined) {
      // The tree matches as FROM does: `+`, `#` (also the parent level), no leading wildcard on `$` topics.
      m.tree.match(topic, this.collect);
      rules = this.matched.length > 0 ? this.matched : NO_RULES;
      this.matched = [];
      if (m.matches.size >= MAX_CACHED_TOPICS) m.matches.clear();
      m.matches.set(topic, rules);
    }
    if (rules.length > 0) this.enqueue(rules, msg, publisher, topic);
    return false;
  }

  private enqueue(rules: Installed[], msg: Message, publisher: Publisher | undefined, topic: string): void {
    for (const r of rules) r.counters.matched++;
    const hops = this.publishingHops;
    if (hops > MAX_HOPS) return this.drop('loop', rules, `a message republished by rules ${hops} times in a row`);
    const max = this.settings.maxQueued;
    if (this.pending >= max) return this.drop('queue_full', rules, `${max} rule evaluations are waiting`);
    this.pending += rules.length;
    const kept: QueuedMessage = {
      topic: msg.topic,
      payload: ownPayload(msg.payload),
      properties: msg.properties,
      createdAt: msg.createdAt,
    };
    this.queue.push({ rules, next: 0, msg: kept, publisher, topic, hops });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drop(reason: DropReason, rules: Installed[], why: string): void {
    for (const r of rules) r.counters.dropped[reason]++;
    const now = Date.now();
    if (now - this.lastDropLog >= 10_000) {
      this.lastDropLog = now;
      this.log.warn({ rules: rules.map((r) => r.name), account: rules[0]!.ns.accountId, reason }, `rules engine dropped a message: ${why}`);
    }
  }

  private drain(): void {
    this.scheduled = false;
    // What routing wrote in this turn goes out before the rules run: the engine's immediate can be
    // ahead of the broker's write flush, and subscribers would wait for the slice.
    this.services.broker()?.batcher.flush();
    const elu = performance.eventLoopUtilization();
    const idle = elu.idle - this.lastElu.idle;
    const othersBusy = Math.max(0, elu.active - this.lastElu.active - this.lastSlice);
    this.lastElu = elu;
    const { cpuShare, maxSliceMs } = this.settings;
    this.credit = idle >= IDLE_MS ? maxSliceMs : Math.min(maxSliceMs, this.credit + (othersBusy * cpuShare) / (1 - cpuShare));
    const start = performance.now();
    if (this.credit > 0) {
      const until = start + this.credit;
      let n = 0;
      while (this.head < this.queue.length) {
        const job = this.queue[this.head]!;
        let rule = job.rules[job.next++]!;
        if (job.next === job.rules.length) this.queue[this.head++] = undefined as never;
        this.pending--;
        if (rule.removed) {
          // Replaced while the message waited: the new version evaluates it; deleted or disabled: nothing does.
          const now = this.mounts.get(rule.mount)?.byName.get(rule.name);
          if (now === undefined || now.disabled) continue;
          rule = now;
        }
        try {
          const done = this.process(job, rule);
          if (done) done.catch((err: unknown) => this.log.error({ err, rule: rule.name }, 'rule evaluation failed'));
        } catch (err) {
          this.log.error({ err, rule: rule.name }, 'rule evaluation failed');
        }
        if ((++n & 3) === 0 && performance.now() >= until) break;
      }
    }
    const now = performance.now();
    this.lastSlice = now - start;
    this.credit -= this.lastSlice;
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
      return;
    }
    if (this.head > 4096) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.scheduled = true;
    if (this.credit > 0) setImmediate(() => this.drain());
    else setTimeout(() => this.drain(), 1);
  }

  /** Evaluates one message for one rule; returns a Promise only when something had to wait. */
  private process(job: Job, rule: Installed): Promise<void> | undefined {
    const { msg, publisher } = job;
    let traceId: string | undefined;
    const message: SqlMessage = {
      topic: job.topic,
      payload: msg.payload,
      clientId: publisher?.clientId,
      principal: publisher?.principal,
      accountId: rule.ns.accountId,
      sourceIp: publisher?.transport?.remoteAddress,
      // Made only when traceid() or an error document asks: most evaluations never do.
      get traceId() {
        return (traceId ??= randomUUID());
      },
      timestamp: msg.createdAt,
      properties: sqlProperties(msg),
    };
    const started = performance.now();
    const r = rule.statement.evaluate(message);
    const e: Evaluation = { rule, job, message };
    if (r instanceof Promise) return r.then((res) => this.evaluated(e, res, started));
    return this.evaluated(e, r, started);
  }

  private evaluated(e: Evaluation, r: EvaluationResult, started: number): Promise<void> | undefined {
    const { rule, job, message } = e;
    rule.counters.evaluation.observe((performance.now() - started) / 1000);
    const failures: Failure[] = r.errors.map((e) => ({ failedAction: 'SQL', failedResource: e.function, errorMessage: e.message }));
    const output = r.matched && r.kind !== 'undefined';
    if (!output) rule.counters.noOutput++;
    if (!output || rule.actions.length === 0) {
      return failures.length > 0 ? this.runErrorAction(e, failures) : undefined;
    }
    const out = outputBytes(r);
    const payload = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
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
    let pending: Promise<Failure | undefined>[] | undefined;
    for (let i = 0; i < rule.actions.length; i++) {
      const outcome = this.runAction(rule, i, base);
      if (outcome instanceof Promise) (pending ??= []).push(outcome);
      else if (outcome) failures.push(outcome);
    }
    if (!pending) return failures.length > 0 ? this.runErrorAction(e, failures) : undefined;
    return Promise.all(pending).then((outcomes) => {
      for (const f of outcomes) if (f) failures.push(f);
      if (failures.length > 0) return this.runErrorAction(e, failures);
    });
  }

  /**
   * Runs action `index` of a rule (the error action is index actions.length): undefined when it
   * succeeded at once, its failure, or a Promise of either when it had to wait. Most actions finish
   * synchronously (republish at QoS 0, queued table rows), so no Promise is made for them.
   */
  private runAction(rule: Installed, index: number, m: ActionMessage): Failure | undefined | Promise<Failure | undefined> {
    const a = index < rule.actions.length ? rule.actions[index]! : rule.errorAction!;
    const counters = rule.counters.actions[index]!;
    const started = performance.now();
    const max = this.settings.maxInFlightPerAction;
    if (rule.inFlight[index]! >= max) {
      counters.failed(0);
      return failure(a, `${max} messages of this action are already in flight; it cannot keep up`, a.runner.resource);
    }
    let out: void | Promise<void>;
    try {
      out = a.runner.run(m);
    } catch (err) {
      counters.failed((performance.now() - started) / 1000);
      return failureOf(a, err);
    }
    if (!(out instanceof Promise)) {
      counters.succeeded((performance.now() - started) / 1000);
      return undefined;
    }
    rule.inFlight[index]!++;
    return out.then(
      () => {
        rule.inFlight[index]!--;
        counters.succeeded((performance.now() - started) / 1000);
        return undefined;
      },
      (err: unknown) => {
        rule.inFlight[index]!--;
        counters.failed((performance.now() - started) / 1000);
        return failureOf(a, err);
      },
    );
  }

  private async runErrorAction({ rule, job, message }: Evaluation, failures: Failure[]): Promise<void> {
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
    const f = await this.runAction(rule, rule.actions.length, m);
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

function failureOf(a: CompiledAction, err: unknown): Failure {
  const e = err as Error & { resource?: string };
  return failure(a, e?.message ?? String(err), e?.resource ?? a.runner.resource);
}

function sqlProperties(msg: QueuedMessage): MqttProperties | undefined {
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
