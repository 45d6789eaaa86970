/**
 * The topic-rule control plane (reference controlplane §4.1): create, get, list, replace, delete,
 * enable, disable. Each change is compiled before it is stored and handed to the engine once
 * committed, so it applies to the next message. Changes run one at a time, so the engine installs
 * them in the order the database took them; `reload` installs what other nodes changed.
 */
import { isSqlVersion, DEFAULT_SQL_VERSION, type SqlHost } from '@thicket/iot-sql';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { decodeToken, encodeToken, pageSize, parseBool } from '../api/pagination.js';
import { AwsError, alreadyExists, invalidRequest, unauthorized } from '../aws/errors.js';
import type { TagWriter } from '../tags/tag-writer.js';
import type { Tag } from '../registry/validation.js';
import type { ActionServices } from './actions/types.js';
import { compileRule, type CompiledRule } from './compiled-rule.js';
import type { ActionSpec, RuleRow, RuleStore, TopicRulePayload } from './rule-store.js';
import { Serial } from './serial.js';

const RULE_NAME = /^[a-zA-Z0-9_]+$/;
const MAX_ACTIONS = 10;
/** Tries of EnableTopicRule / DisableTopicRule when another node changes the rule between read and write. */
const MAX_ATTEMPTS = 5;

export interface TopicRulesDeps {
  store: RuleStore;
  services: ActionServices;
  /** Resolves the SQL's external functions (get_thing_shadow, aws_lambda) for rules of a namespace. */
  hostFor(ns: Namespace): SqlHost | undefined;
  /** The engine takes a compiled rule (created, replaced, enabled, disabled) or forgets one. */
  installed(rule: CompiledRule): void;
  removed(ns: Namespace, name: string): void;
  /** The installed rule of that name (its FROM filter is ListTopicRules' topicPattern). */
  compiled(ns: Namespace, name: string): CompiledRule | undefined;
  tags: TagWriter;
}

/** A stored rule that does not compile (any more) is reported and does not run. */
export type CompileReport = (row: RuleRow, err: unknown) => void;

export const ruleArn = (ns: Namespace, name: string): string => iotArn(ns, `rule/${name}`);

function checkRuleName(name: string | undefined): string {
  const v = name ?? '';
  const fail = (c: string): never => {
    throw invalidRequest(`1 validation error detected: Value '${v}' at 'ruleName' failed to satisfy constraint: ${c}`);
  };
  if (v.length < 1) fail('Member must have length greater than or equal to 1');
  if (v.length > 128) fail('Member must have length less than or equal to 128');
  if (!RULE_NAME.test(v)) fail('Member must satisfy regular expression pattern: ^[a-zA-Z0-9_]+$');
  return v;
}

/** The TopicRulePayload with AWS's defaults, or InvalidRequestException naming the field. */
export function normalizePayload(body: Record<string, unknown>): TopicRulePayload {
  const member = (f: string) => `topicRulePayload.${f}`;
  const bad: (f: string, value: unknown, c: string) => never = (f, value, c) => {
    throw invalidRequest(
      `1 validation error detected: Value ${value === undefined || value === null ? 'null' : `'${typeof value === 'string' ? value : JSON.stringify(value)}'`} at '${member(f)}' failed to satisfy constraint: ${c}`,
    );
  };
  const { sql, description, actions, ruleDisabled, awsIotSqlVersion, errorAction } = body;
  if (sql === undefined || sql === null) bad('sql', sql, 'Member must not be null');
  if (typeof sql !== 'string') bad('sql', sql, 'Member must be a string');
  if (description !== undefined && description !== null && typeof description !== 'string')
    bad('description', description, 'Member must be a string');
  if (actions === undefined || actions === null) bad('actions', actions, 'Member must not be null');
  if (!Array.isArray(actions)) bad('actions', actions, 'Member must be a list');
  if (actions.length > MAX_ACTIONS)
    bad('actions', `[${actions.length} actions]`, `Member must have length less than or equal to ${MAX_ACTIONS}`);
  if (ruleDisabled !== undefined && ruleDisabled !== null && typeof ruleDisabled !== 'boolean')
    bad('ruleDisabled', ruleDisabled, 'Member must be a boolean');
  const version = awsIotSqlVersion ?? DEFAULT_SQL_VERSION;
  if (typeof version !== 'string' || !isSqlVersion(version)) {
    throw new AwsError('SqlParseException', 400, `Unsupported awsIotSqlVersion '${String(version)}': use 2015-10-08, 2016-03-23 or beta`);
  }
  const payload: TopicRulePayload = {
    sql: sql as string,
    actions: actions as ActionSpec[],
    ruleDisabled: (ruleDisabled as boolean | undefined) ?? false,
    awsIotSqlVersion: version,
  };
  if (typeof description === 'string') payload.description = description;
  if (errorAction !== undefined && errorAction !== null) payload.errorAction = errorAction as ActionSpec;
  return payload;
}

/** `x-amz-tagging: k1=v1&k2=v2` (CreateTopicRule's tags). */
export function taggingHeader(raw: string | undefined): Tag[] {
  if (raw === undefined || raw === '') return [];
  const tags: Tag[] = [];
  for (const [Key, Value] of new URLSearchParams(raw)) {
    if (Key.length === 0 || Key.length > 128) throw invalidRequest(`Tag keys must have 1 to 128 characters, not '${Key}'`);
    if (Value.length > 256) throw invalidRequest(`The value of tag '${Key}' is longer than 256 characters`);
    tags.push({ Key, Value });
  }
  return tags;
}

export class TopicRules {
  private readonly serial = new Serial();

  constructor(private readonly deps: TopicRulesDeps) {}

  private compile(row: RuleRow): CompiledRule {
    return compileRule(row.ns, row.name, ruleArn(row.ns, row.name), row.payload, this.deps.services, this.deps.hostFor(row.ns));
  }

  /** Compiles every stored rule (at start); a rule that no longer compiles is reported and skipped. */
  loadAll(report: CompileReport): CompiledRule[] {
    const out: CompiledRule[] = [];
    for (const row of this.deps.store.all()) {
      try {
        out.push(this.compile(row));
      } catch (err) {
        report(row, err);
      }
    }
    return out;
  }

  /**
   * Reads the rules again (another node may have changed them) and has the engine follow: a new or
   * changed rule is installed, a deleted one (or one that no longer compiles) taken out.
   */
  reload(report: CompileReport): Promise<void> {
    return this.serial.run(async () => {
      const { changed, removed } = await this.deps.store.reload();
      for (const r of removed) this.deps.removed(r.ns, r.name);
      for (const row of changed) {
        let compiled: CompiledRule;
        try {
          compiled = this.compile(row);
        } catch (err) {
          report(row, err);
          this.deps.removed(row.ns, row.name);
          continue;
        }
        this.deps.installed(compiled);
      }
    });
  }

  private missing(name: string): AwsError {
    // AWS answers a rule that does not exist as one the caller may not see (reference controlplane §1.2).
    return unauthorized(`Access to topic rule '${name}' was denied`);
  }

  /** The database has no such rule (another node deleted it): forgotten here too. */
  private gone(ns: Namespace, name: string): AwsError {
    this.deps.store.forget(ns, name);
    this.deps.removed(ns, name);
    return this.missing(name);
  }

  /** Installs a stored rule and runs its actions' `saved` hooks (an http action creates its destination). */
  private async stored(compiled: CompiledRule): Promise<void> {
    this.deps.installed(compiled);
    for (const a of [...compiled.actions, ...(compiled.errorAction ? [compiled.errorAction] : [])]) await a.kind.saved?.(a.build);
  }

  async create(
    ns: Namespace,
    name: string | undefined,
    body: Record<string, unknown>,
    tagging: string | undefined,
  ): Promise<Record<string, never>> {
    const ruleName = checkRuleName(name);
    const payload = normalizePayload(body);
    const tags = taggingHeader(tagging);
    const row: RuleRow = { ns, name: ruleName, payload, createdAt: Date.now() };
    const compiled = this.compile(row);
    await this.serial.run(async () => {
      // The rule and its tags in one transaction: both or neither. A taken name fails on the table's key.
      if (!(await this.deps.store.create(row, this.deps.tags.putting(compiled.arn, tags))))
        throw alreadyExists(`Topic rule '${ruleName}' already exists`, ruleName, compiled.arn);
      await this.stored(compiled);
    });
    return {};
  }

  async replace(ns: Namespace, name: string | undefined, body: Record<string, unknown>): Promise<Record<string, never>> {
    const ruleName = checkRuleName(name);
    if (!this.deps.store.rule(ns, ruleName)) throw this.missing(ruleName);
    const payload = normalizePayload(body);
    const compiled = this.compile({ ns, name: ruleName, payload, createdAt: 0 });
    await this.serial.run(async () => {
      if (!(await this.deps.store.replace(ns, ruleName, payload))) throw this.gone(ns, ruleName);
      await this.stored(compiled);
    });
    return {};
  }

  get(ns: Namespace, name: string | undefined): { ruleArn: string; rule: Record<string, unknown> } {
    const ruleName = checkRuleName(name);
    const row = this.deps.store.rule(ns, ruleName);
    if (!row) throw this.missing(ruleName);
    const p = row.payload;
    return {
      ruleArn: ruleArn(ns, ruleName),
      rule: {
        ruleName,
        sql: p.sql,
        ...(p.description !== undefined ? { description: p.description } : {}),
        createdAt: row.createdAt / 1000,
        actions: p.actions,
        ruleDisabled: p.ruleDisabled,
        awsIotSqlVersion: p.awsIotSqlVersion,
        ...(p.errorAction ? { errorAction: p.errorAction } : {}),
      },
    };
  }

  list(ns: Namespace, query: Record<string, string | undefined>): { rules: Record<string, unknown>[]; nextToken?: string } {
    const size = pageSize(query.maxResults, 'maxResults', 10000, 1000);
    const disabled = parseBool(query.ruleDisabled, 'ruleDisabled');
    const after = decodeToken<string>(query.nextToken, 'nextToken');
    const topic = query.topic;
    const matching = this.deps.store
      .rules(ns)
      .filter((r) => after === undefined || r.name > after)
      .filter((r) => disabled === undefined || r.payload.ruleDisabled === disabled)
      .map((r) => ({ row: r, topicPattern: this.deps.compiled(ns, r.name)?.statement.from }))
      .filter((r) => topic === undefined || r.topicPattern === topic);
    const page = matching.slice(0, size);
    const out: { rules: Record<string, unknown>[]; nextToken?: string } = {
      rules: page.map(({ row, topicPattern }) => ({
        ruleArn: ruleArn(ns, row.name),
        ruleName: row.name,
        ...(topicPattern !== undefined ? { topicPattern } : {}),
        createdAt: row.createdAt / 1000,
        ruleDisabled: row.payload.ruleDisabled,
      })),
    };
    if (matching.length > size) out.nextToken = encodeToken(page[page.length - 1]!.row.name);
    return out;
  }

  async delete(ns: Namespace, name: string | undefined): Promise<Record<string, never>> {
    const ruleName = checkRuleName(name);
    await this.serial.run(async () => {
      // The rule and its tags in one transaction; the database says whether there was one.
      const deleted = await this.deps.store.delete(ns, ruleName, this.deps.tags.removing(ruleArn(ns, ruleName)));
      this.deps.removed(ns, ruleName);
      if (!deleted) throw this.missing(ruleName);
    });
    return {};
  }

  async setDisabled(ns: Namespace, name: string | undefined, disabled: boolean): Promise<Record<string, never>> {
    const ruleName = checkRuleName(name);
    if (!this.deps.store.rule(ns, ruleName)) throw this.missing(ruleName);
    await this.serial.run(async () => {
      let row = this.deps.store.rule(ns, ruleName);
      // The write is conditional on the payload read: another node may replace the rule meanwhile, and its change must stay.
      for (let attempt = 1; ; attempt++) {
        if (!row) throw this.gone(ns, ruleName);
        // What was read again from the database is written all the same: this node then holds and runs it.
        if (attempt === 1 && row.payload.ruleDisabled === disabled) return;
        const payload = { ...row.payload, ruleDisabled: disabled };
        const compiled = this.compile({ ...row, payload });
        if (await this.deps.store.replace(ns, ruleName, payload, row.payload)) return this.stored(compiled);
        if (attempt === MAX_ATTEMPTS)
          throw new AwsError(
            'ConflictingResourceUpdateException',
            409,
            `Topic rule '${ruleName}' is being changed by another request; try again`,
          );
        row = await this.deps.store.fetch(ns, ruleName);
      }
    });
    return {};
  }
}
