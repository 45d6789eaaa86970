/**
 * `thicket rules`: topic rules over the AWS IoT control plane, and `thicket rules test`, which
 * evaluates a statement locally (rules-test.ts).
 *
 * Create and Replace send the topicRulePayload as the caller wrote it (a SigV4-signed request, as
 * `aws iot create-topic-rule` does) rather than through the SDK's typed command: the SDK's
 * serializer drops action keys it does not model, and the server's answer to a misspelt action
 * (which names it) is more useful than "no action".
 */
import type { Command } from 'commander';
import {
  DeleteTopicRuleCommand,
  DisableTopicRuleCommand,
  EnableTopicRuleCommand,
  GetTopicRuleCommand,
  ListTopicRulesCommand,
  type TopicRuleListItem,
} from '@aws-sdk/client-iot';
import { adminRequest } from '@thicket/server/client';
import { apiOptions, credentials, readable, withClient, type ApiOptions } from '../api-client.js';
import { jsonArgument, namedValues, textArgument } from '../arguments.js';
import { fields, print, table } from '../output.js';
import { all } from './registry.js';
import { caretUnder, registerRulesTest } from './rules-test.js';

interface PayloadOptions extends ApiOptions {
  sql?: string;
  action: string[];
  errorAction?: string;
  sqlVersion?: string;
  description?: string;
  disabled?: boolean;
  payload?: string;
  tag?: string[];
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The topicRulePayload from `--payload` (a whole payload, or `aws iot create-topic-rule
 * --cli-input-json`'s `{ruleName, topicRulePayload}`) and the options, which take precedence.
 */
export function rulePayload(o: PayloadOptions): Record<string, unknown> {
  let base: Record<string, unknown> = {};
  if (o.payload !== undefined) {
    const parsed = jsonArgument(o.payload, '--payload');
    if (!isObject(parsed)) throw new Error('--payload must be a JSON object (a topicRulePayload)');
    base = isObject(parsed.topicRulePayload) ? { ...parsed.topicRulePayload } : { ...parsed };
  }
  if (o.sql !== undefined) base.sql = textArgument(o.sql);
  if (o.action.length > 0) {
    base.actions = o.action.map((a, i) => {
      const v = jsonArgument(a, `--action #${i + 1}`);
      if (!isObject(v)) throw new Error(`--action #${i + 1} must be a JSON object such as {"republish": {...}}`);
      return v;
    });
  }
  if (o.errorAction !== undefined) base.errorAction = jsonArgument(o.errorAction, '--error-action');
  if (o.sqlVersion !== undefined) base.awsIotSqlVersion = o.sqlVersion;
  if (o.description !== undefined) base.description = o.description;
  if (o.disabled) base.ruleDisabled = true;
  if (base.sql === undefined) throw new Error('give the statement with --sql, or a whole topicRulePayload with --payload');
  // The API requires the list; a rule with none only counts its matches (and runs no error action).
  base.actions ??= [];
  return base;
}

/** A SqlParseException with a position gets the statement printed with a caret under it. */
function withStatement(err: Error, sql: unknown): Error {
  const m = /^SqlParseException: .*?line (\d+), column (\d+)/s.exec(err.message);
  if (!m || typeof sql !== 'string') return err;
  return new Error(`${err.message}\n${caretUnder(sql, Number(m[1]), Number(m[2]))}`, { cause: err });
}

async function sendPayload(o: PayloadOptions, method: 'POST' | 'PATCH', name: string): Promise<void> {
  const body = rulePayload(o);
  const tags = namedValues(o.tag, '--tag');
  try {
    await adminRequest({
      endpoint: o.endpoint,
      region: o.region,
      credentials: credentials(o),
      method,
      path: `/rules/${encodeURIComponent(name)}`,
      body,
      headers: tags ? { 'x-amz-tagging': new URLSearchParams(tags).toString() } : undefined,
    });
  } catch (err) {
    throw withStatement(readable(err, o), body.sql);
  }
}

function payloadOptions(cmd: Command): Command {
  return apiOptions(cmd)
    .option('--sql <statement>', 'the IoT SQL statement (inline, @file or -)')
    .option(
      '--action <json>',
      'an action, e.g. {"republish":{"topic":"out","roleArn":"..."}} (JSON or @file; repeat for more)',
      collect,
      [],
    )
    .option('--error-action <json>', 'the error action (JSON or @file)')
    .option('--sql-version <version>', 'awsIotSqlVersion: 2015-10-08 (the API default), 2016-03-23 or beta')
    .option('--description <text>', 'what the rule is for')
    .option('--disabled', 'store the rule disabled')
    .option(
      '--payload <json>',
      'a whole topicRulePayload (JSON or @file, as aws iot create-topic-rule takes it); the options above override its fields',
    );
}

const when = (d: Date | undefined): string => (d ? d.toISOString() : '');

export function registerRules(program: Command): void {
  const rules = program.command('rules').description('topic rules: IoT SQL over incoming messages, and actions for the results');

  payloadOptions(rules.command('create <name>').description('create a topic rule'))
    .option('--tag <key=value...>', 'tags (sent in x-amz-tagging)')
    .action(async (name: string, o: PayloadOptions) => {
      await sendPayload(o, 'POST', name);
      print(o.json, {}, () => `created rule ${name}\n`);
    });
  payloadOptions(rules.command('replace <name>').description("replace a topic rule's statement, actions and settings")).action(
    async (name: string, o: PayloadOptions) => {
      await sendPayload(o, 'PATCH', name);
      print(o.json, {}, () => `replaced rule ${name}\n`);
    },
  );

  apiOptions(rules.command('list').description('list topic rules'))
    .option('--topic <filter>', 'only rules whose FROM filter is exactly this')
    .option('--enabled', 'only enabled rules')
    .option('--disabled', 'only disabled rules')
    .action((o: ApiOptions & { topic?: string; enabled?: boolean; disabled?: boolean }) =>
      withClient(o, async (iot) => {
        if (o.enabled && o.disabled) throw new Error('give --enabled or --disabled, not both');
        const ruleDisabled = o.disabled ? true : o.enabled ? false : undefined;
        const list = await all<TopicRuleListItem>(async (nextToken) => {
          const r = await iot.send(new ListTopicRulesCommand({ nextToken, topic: o.topic, ruleDisabled }));
          return { items: r.rules, next: r.nextToken };
        });
        const rows = list.map((r) => ({
          name: r.ruleName,
          topic: r.topicPattern ?? '(Basic Ingest only)',
          enabled: !r.ruleDisabled,
          created: when(r.createdAt),
        }));
        print(o.json, { rules: list }, () => table(rows, ['name', 'topic', 'enabled', 'created']));
      }),
    );

  apiOptions(rules.command('get <name>').description('show a topic rule')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new GetTopicRuleCommand({ ruleName: name }));
      print(o.json, r, () => {
        const rule = r.rule ?? {};
        const head = fields(
          {
            ruleName: rule.ruleName,
            ruleArn: r.ruleArn,
            enabled: !rule.ruleDisabled,
            awsIotSqlVersion: rule.awsIotSqlVersion,
            createdAt: when(rule.createdAt),
            description: rule.description,
            sql: rule.sql,
          },
          ['ruleName', 'ruleArn', 'enabled', 'awsIotSqlVersion', 'createdAt', 'description', 'sql'],
        );
        const actions = `actions:\n${(rule.actions ?? []).map((a) => `  ${JSON.stringify(a)}\n`).join('') || '  (none)\n'}`;
        const errorAction = rule.errorAction ? `errorAction:\n  ${JSON.stringify(rule.errorAction)}\n` : '';
        return head + actions + errorAction;
      });
    }),
  );

  const simple = (
    verb: string,
    description: string,
    send: (name: string) => DeleteTopicRuleCommand | EnableTopicRuleCommand | DisableTopicRuleCommand,
    done: string,
  ): void => {
    apiOptions(rules.command(`${verb} <name>`).description(description)).action((name: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(send(name) as never);
        print(o.json, r, () => `${done} rule ${name}\n`);
      }),
    );
  };
  simple('delete', 'delete a topic rule', (ruleName) => new DeleteTopicRuleCommand({ ruleName }), 'deleted');
  simple('enable', 'enable a topic rule', (ruleName) => new EnableTopicRuleCommand({ ruleName }), 'enabled');
  simple(
    'disable',
    'disable a topic rule (it keeps its definition and stops seeing messages)',
    (ruleName) => new DisableTopicRuleCommand({ ruleName }),
    'disabled',
  );

  registerRulesTest(rules);
}
