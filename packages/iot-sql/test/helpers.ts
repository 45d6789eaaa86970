import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compile, SqlParseError, type EvaluationResult, type SqlMessage } from '../src/index.js';

/** Marks an expected Undefined result. */
export const UNDEF = Symbol('Undefined');
export type V = '2015-10-08' | '2016-03-23' | 'beta';

export function message(payload: unknown, topic = 'dt/d1/temp', extra: Partial<SqlMessage> = {}): SqlMessage {
  const bytes = typeof payload === 'string' || payload instanceof Uint8Array ? payload : JSON.stringify(payload);
  return {
    topic,
    payload: bytes,
    clientId: 'client-1',
    principal: 'abc123',
    accountId: '123456789012',
    sourceIp: '10.0.0.7',
    traceId: 'trace-1',
    timestamp: 1_700_000_000_000,
    ...extra,
  };
}

export async function run(
  sql: string,
  payload: unknown = {},
  version: V = '2016-03-23',
  extra: Partial<SqlMessage> = {},
): Promise<EvaluationResult> {
  return compile(sql, { version }).evaluate(message(payload, extra.topic ?? 'dt/d1/temp', extra));
}

/** Evaluates `SELECT VALUE <expr>` and returns its value (UNDEF for Undefined). */
export async function value(
  expr: string,
  payload: unknown = {},
  version: V = '2016-03-23',
  extra: Partial<SqlMessage> = {},
): Promise<unknown> {
  const r = await run(`SELECT VALUE ${expr} FROM 'dt/#'`, payload, version, extra);
  return r.kind === 'undefined' ? UNDEF : r.output;
}

export type ExprCase = [expr: string, expected: unknown, payload?: unknown, version?: V];

/** One node:test per row: `SELECT VALUE expr` must give `expected` (UNDEF = Undefined). */
export function exprCases(title: string, rows: ExprCase[], defaultVersion: V = '2016-03-23'): void {
  for (const [expr, expected, payload, version] of rows) {
    const v = version ?? defaultVersion;
    test(`${title}: ${expr} [${v}]`, async () => {
      const actual = await value(expr, payload ?? {}, v);
      if (expected === UNDEF) assert.equal(actual, UNDEF, `expected Undefined, got ${JSON.stringify(actual)}`);
      else if (typeof expected === 'number' && Number.isNaN(expected)) assert.ok(Number.isNaN(actual as number));
      else assert.deepStrictEqual(actual, expected);
    });
  }
}

export type StatementCase = {
  sql: string;
  payload?: unknown;
  topic?: string;
  version?: V;
  output?: unknown;
  matched?: boolean;
  kind?: EvaluationResult['kind'];
  error?: RegExp;
  extra?: Partial<SqlMessage>;
};

export function statementCases(title: string, rows: StatementCase[]): void {
  for (const c of rows) {
    const v = c.version ?? '2016-03-23';
    test(`${title}: ${c.sql} [${v}]`, async () => {
      if (c.error) {
        assert.throws(
          () => compile(c.sql, { version: v }),
          (err: unknown) => {
            assert.ok(err instanceof SqlParseError, `expected SqlParseError, got ${String(err)}`);
            assert.equal(err.errorName, 'SqlParseException');
            assert.match(err.message, c.error!);
            return true;
          },
        );
        return;
      }
      const r = await run(c.sql, c.payload ?? {}, v, { ...c.extra, ...(c.topic ? { topic: c.topic } : {}) });
      assert.equal(r.matched, c.matched ?? true);
      if (c.kind) assert.equal(r.kind, c.kind);
      if ('output' in c) assert.deepStrictEqual(r.output, c.output);
    });
  }
}
