/**
 * A topic rule ready to run: its SQL compiled once and each action's runner built. Create and
 * Replace compile the same way before saving, so a rule that is stored always compiles.
 */
import { compile, SqlParseError, type CompiledStatement, type CompiledTemplate, type SqlHost } from '@thicket/iot-sql';
import { parseFilter } from '@thicket/broker';
import { mountOf, type Namespace } from '../accounts/namespace.js';
import { AwsError, invalidRequest } from '../aws/errors.js';
import { actionKind, ACTION_KINDS, AWS_ACTION_KEYS } from './actions/index.js';
import type { ActionBuild, ActionKind, ActionRunner, ActionServices } from './actions/types.js';
import type { ActionSpec, TopicRulePayload } from './rule-store.js';

export interface CompiledAction {
  kind: ActionKind;
  runner: ActionRunner;
  /** For `saved` hooks and error messages. */
  build: ActionBuild;
}

export interface CompiledRule {
  ns: Namespace;
  mount: string;
  name: string;
  arn: string;
  disabled: boolean;
  statement: CompiledStatement;
  actions: CompiledAction[];
  errorAction: CompiledAction | undefined;
}

export function sqlParseException(err: SqlParseError, what = 'SQL'): AwsError {
  const where = err.message.startsWith('Syntax error') ? '' : `Error at line ${err.position.line}, column ${err.position.column}: `;
  return new AwsError('SqlParseException', 400, `${what === 'SQL' ? '' : `${what}: `}${where}${err.message}`);
}

/** Compiles a rule; throws SqlParseException or InvalidRequestException as CreateTopicRule answers them. */
export function compileRule(
  ns: Namespace,
  name: string,
  arn: string,
  payload: TopicRulePayload,
  services: ActionServices,
  host: SqlHost | undefined,
): CompiledRule {
  let statement: CompiledStatement;
  try {
    statement = compile(payload.sql, { version: payload.awsIotSqlVersion as never, host });
  } catch (err) {
    if (err instanceof SqlParseError) throw sqlParseException(err);
    throw err;
  }
  if (statement.from !== undefined) checkFromFilter(payload.sql, statement.from);
  const actions = payload.actions.map((a, i) =>
    buildAction(ns, name, statement, a, `topicRulePayload.actions.${i + 1}.member`, false, services),
  );
  const errorAction = payload.errorAction
    ? buildAction(ns, name, statement, payload.errorAction, 'topicRulePayload.errorAction', true, services)
    : undefined;
  return { ns, mount: mountOf(ns), name, arn, disabled: payload.ruleDisabled, statement, actions, errorAction };
}

/**
 * A FROM filter the broker would refuse as a subscription (`a/#/b`, `a/b+`, empty) would never match
 * anything; it is refused at create time, like SQL that does not parse.
 */
function checkFromFilter(sql: string, from: string): void {
  const parsed = parseFilter(from, { maxTopicLength: 65_535, maxTopicLevels: 0 });
  const why = typeof parsed === 'string' ? parsed : parsed.group !== undefined ? 'a rule cannot use a shared subscription' : undefined;
  if (why === undefined) return;
  // Its position: the text after `FROM '` (nested queries' FROM takes a field, not a quoted filter).
  let at = 0;
  for (const m of sql.matchAll(/\bfrom\s*['"]/gi)) if (sql.startsWith(from, m.index + m[0].length)) at = m.index + m[0].length;
  const before = sql.slice(0, at).split('\n');
  const position = { offset: at, line: before.length, column: before[before.length - 1]!.length + 1 };
  throw sqlParseException(new SqlParseError(`The FROM topic filter '${from}' is not valid: ${why}`, position));
}

function buildAction(
  ns: Namespace,
  ruleName: string,
  statement: CompiledStatement,
  spec: ActionSpec,
  path: string,
  errorAction: boolean,
  services: ActionServices,
): CompiledAction {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw invalidRequest(`${path} must be an Action object`);
  const keys = Object.keys(spec).filter((k) => spec[k] !== null && spec[k] !== undefined);
  if (keys.length !== 1) {
    throw invalidRequest(
      `${path} must name exactly one action (such as republish or http), not ${keys.length === 0 ? 'none' : keys.join(', ')}`,
    );
  }
  const key = keys[0]!;
  const kind = actionKind(key);
  if (!kind) {
    const runs = ACTION_KINDS.map((k) => k.key).join(', ');
    if (AWS_ACTION_KEYS.includes(key)) {
      throw invalidRequest(
        `The ${key} action is not supported by Thicket: it needs an AWS service this server does not have. Supported actions: ${runs}`,
      );
    }
    throw invalidRequest(`Unknown rule action '${key}' in ${path}. Supported actions: ${runs}`);
  }
  const config = spec[key]!;
  if (typeof config !== 'object' || Array.isArray(config)) throw invalidRequest(`${path}.${key} must be a structure`);
  const build: ActionBuild = {
    ns,
    ruleName,
    config,
    path: `${path}.${key}`,
    errorAction,
    template: (text, field) => compileTemplate(statement, text, `${path}.${key}.${field}`, errorAction),
    services,
  };
  return { kind, runner: kind.build(build), build };
}

function compileTemplate(statement: CompiledStatement, text: string, field: string, errorAction: boolean): CompiledTemplate {
  let t: CompiledTemplate;
  try {
    t = statement.template(text);
  } catch (err) {
    if (err instanceof SqlParseError) throw invalidRequest(`The substitution template in ${field} is not valid: ${err.message}`);
    throw err;
  }
  if (errorAction && t.usesExternal) {
    throw invalidRequest(`The substitution template in ${field} calls an external function, which an error action may not do`);
  }
  return t;
}

/** Releases what the actions of a rule hold. */
export function closeRule(rule: CompiledRule): void {
  for (const a of [...rule.actions, ...(rule.errorAction ? [rule.errorAction] : [])]) {
    try {
      a.runner.close?.();
    } catch {
      /* a runner that fails to close has nothing left to release */
    }
  }
}
