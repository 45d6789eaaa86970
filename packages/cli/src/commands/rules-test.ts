/**
 * `thicket rules test`: evaluates a statement here, with @thicket/iot-sql, against one sample
 * message, without a server and without creating a rule. It says what a rule with that statement
 * would hand its actions, or why it would hand them nothing.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  compile,
  FUNCTIONS,
  isSqlVersion,
  outputBytes,
  SqlParseError,
  topicMatches,
  type CompiledStatement,
  type EvaluationResult,
  type SqlHost,
  type SqlMessage,
} from '@thicket/iot-sql';
import { namedValues } from '../arguments.js';

interface TestOptions {
  sql: string;
  topic: string;
  payload: string;
  clientId?: string;
  principal?: string;
  accountId: string;
  sqlVersion: string;
  contentType?: string;
  userProperty?: string[];
  json?: boolean;
}

const BASIC_INGEST = /^\$aws\/rules\/([^/]+)(?:\/(.*))?$/s;

/** The statement line `line` with a caret under `column` (both 1-based), indented for a message. */
export function caretUnder(sql: string, line: number, column: number): string {
  const text = sql.split('\n')[line - 1] ?? '';
  // Tabs keep their width above the caret; other characters become spaces.
  const pad = text.slice(0, column - 1).replace(/[^\t]/g, ' ');
  return `  ${text}\n  ${pad}^`;
}

/** Bytes of a payload argument: inline text, `@file` (read as bytes, so binary files work) or `-`. */
function payloadBytes(value: string): Buffer {
  const path = value === '-' ? 0 : value.startsWith('@') ? value.slice(1) : undefined;
  if (path === undefined) return Buffer.from(value, 'utf8');
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read ${String(path)}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
}

const EXTERNAL = Object.keys(FUNCTIONS).filter((name) => FUNCTIONS[name]!.external);

/** The external functions a statement names (compile only says whether there are any). */
function externalCalls(sql: string): string[] {
  return EXTERNAL.filter((name) => new RegExp(`\\b${name}\\s*\\(`, 'i').test(sql));
}

/** Answers every external call with a failure that says why. */
const NO_HOST: SqlHost = {
  call(name) {
    throw new Error(`${name}() calls a service of the server; \`thicket rules test\` runs without one, so it is Undefined here`);
  },
};

interface Outcome {
  topic: string;
  from: string | undefined;
  matched: boolean;
  reason?: string;
  kind?: EvaluationResult['kind'];
  output?: unknown;
  outputBase64?: string;
  errors: { function: string; message: string }[];
  notes: string[];
}

function message(o: TestOptions, topic: string, payload: Buffer): SqlMessage {
  const userProperties = namedValues(o.userProperty, '--user-property');
  const properties = o.contentType !== undefined || userProperties ? { contentType: o.contentType, userProperties } : undefined;
  return {
    topic,
    payload,
    clientId: o.clientId,
    principal: o.principal,
    accountId: o.accountId,
    traceId: randomUUID(),
    timestamp: Date.now(),
    properties,
  };
}

async function evaluate(o: TestOptions, stmt: CompiledStatement): Promise<Outcome> {
  const notes: string[] = [];
  const calls = externalCalls(o.sql);
  if (stmt.usesExternal) {
    notes.push(
      `the statement calls ${calls.length > 0 ? calls.map((c) => `${c}()`).join(', ') : 'an external function'}, ` +
        'which only the server can answer: here each call is Undefined and listed as a failed function',
    );
  }
  let topic = o.topic;
  const ingest = BASIC_INGEST.exec(o.topic);
  if (ingest) {
    topic = ingest[2] ?? '';
    notes.push(`a Basic Ingest topic: only rule '${ingest[1]}' gets it, the FROM filter does not apply, and topic() sees '${topic}'`);
  } else if (stmt.from === undefined) {
    notes.push('the statement has no FROM: a rule with it gets messages only through Basic Ingest ($aws/rules/<rule>/...)');
  } else if (!topicMatches(stmt.from, o.topic)) {
    return {
      topic: o.topic,
      from: stmt.from,
      matched: false,
      reason: `the FROM filter '${stmt.from}' does not match the topic '${o.topic}'`,
      errors: [],
      notes,
    };
  }
  const r = await stmt.evaluateAsync(message(o, topic, payloadBytes(o.payload)), NO_HOST);
  const out: Outcome = { topic: o.topic, from: stmt.from, matched: r.matched, kind: r.kind, errors: r.errors, notes };
  if (!r.matched) out.reason = 'WHERE was not true';
  else if (r.kind === 'undefined') out.reason = 'the result was Undefined';
  else if (r.kind === 'binary') out.outputBase64 = Buffer.from(outputBytes(r)).toString('base64');
  else out.output = r.output;
  return out;
}

function human(r: Outcome): string {
  let text = r.notes.map((n) => `note: ${n}\n`).join('');
  if (r.reason !== undefined) text += `no output: ${r.reason}\n`;
  else if (r.outputBase64 !== undefined) {
    text += `output: the payload's ${Buffer.from(r.outputBase64, 'base64').length} bytes unchanged (not JSON), in base64:\n${r.outputBase64}\n`;
  } else text += `${JSON.stringify(r.output, null, 2)}\n`;
  if (r.errors.length > 0) {
    text += "functions that failed (a rule's error action would run):\n";
    for (const e of r.errors) text += `  ${e.function}: ${e.message}\n`;
  }
  return text;
}

export function registerRulesTest(rules: Command): void {
  rules
    .command('test')
    .description('evaluate a statement here against a sample message, without a server or a rule')
    .requiredOption('--sql <statement>', 'the IoT SQL statement (inline, @file or -)')
    .requiredOption('--topic <topic>', 'the topic the message is published to')
    .requiredOption('--payload <payload>', 'the message payload: JSON text (or any text), @file (bytes) or -')
    .option('--client-id <id>', 'what clientid() returns (n/a when not given, as for an HTTPS publish)')
    .option('--principal <principal>', 'what principal() returns')
    .option('--account-id <id>', 'what accountid() returns', '123456789012')
    .option('--sql-version <version>', 'awsIotSqlVersion: 2015-10-08 (the API default), 2016-03-23 or beta', '2015-10-08')
    .option('--content-type <type>', 'the MQTT 5 content type, for get_mqtt_property')
    .option('--user-property <key=value...>', 'MQTT 5 user properties, for get_user_properties')
    .option('--json', 'print the outcome as JSON')
    .action(async (o: TestOptions) => {
      if (o.sql.startsWith('@') || o.sql === '-') o.sql = payloadBytes(o.sql).toString('utf8');
      if (!isSqlVersion(o.sqlVersion)) throw new Error(`--sql-version must be 2015-10-08, 2016-03-23 or beta, not ${o.sqlVersion}`);
      let stmt: CompiledStatement;
      try {
        stmt = compile(o.sql, { version: o.sqlVersion });
      } catch (err) {
        if (!(err instanceof SqlParseError)) throw err;
        const p = err.position;
        throw new Error(`SqlParseException: ${err.message}\n${caretUnder(o.sql, p.line, p.column)}`, { cause: err });
      }
      const r = await evaluate(o, stmt);
      process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : human(r));
    });
}
