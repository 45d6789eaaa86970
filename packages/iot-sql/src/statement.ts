// compile(sql) -> CompiledStatement: parse once, evaluate per message. Evaluation is synchronous
// unless an external function needs the host: then the sync evaluator stops with NeedsHost, the
// driver awaits the host, caches the answer for this message and runs the statement again
// (each distinct external call costs one re-run; AWS allows very few per statement anyway).
import type { StatementNode, TemplatePart } from './ast.js';
import { compileExpr, compileSelect, type Compiled, type Scope } from './compile.js';
import { NeedsHost, type EvalContext, type HostOutcome } from './context.js';
import { SqlParseError } from './errors.js';
import { parse, SyntaxError as PeggySyntaxError, type Expectation } from './generated/parser.js';
import type { EvaluationResult, SqlHost, SqlMessage } from './types.js';
import { setKey, storable, toStringValue, type Version } from './values.js';

export type SqlVersion = '2015-10-08' | '2016-03-23' | 'beta';
export const DEFAULT_SQL_VERSION: SqlVersion = '2015-10-08';
const SQL_VERSIONS: readonly string[] = ['2015-10-08', '2016-03-23', 'beta'];
/** At most this many distinct external calls per message (guards against runaway re-runs). */
const MAX_EXTERNAL_CALLS = 16;

export interface CompileOptions {
  /** awsIotSqlVersion; 2015-10-08 when omitted, like the AWS API. */
  version?: string;
  /** Resolves external functions; without one they evaluate to Undefined with an error. */
  host?: SqlHost;
}

export function isSqlVersion(v: string): v is SqlVersion {
  return SQL_VERSIONS.includes(v);
}

function semanticsOf(version: SqlVersion): Version {
  return version === '2015-10-08' ? '2015-10-08' : '2016-03-23';
}

/** Parses with the generated parser, turning peggy's error into SqlParseError (position + expected). */
export function parseWith<T>(text: string, startRule: 'Statement' | 'Template'): T {
  try {
    return parse(text, { startRule }) as T;
  } catch (err) {
    if (err instanceof PeggySyntaxError) {
      const e = err;
      const start = e.location.start;
      const expected = [...new Set((e.expected ?? []).map(describeExpectation))].sort();
      const found = e.found ?? undefined;
      const at = found === undefined ? 'end of input' : JSON.stringify(found);
      const message = `Syntax error at line ${start.line}, column ${start.column}: expected ${listExpected(expected)} but found ${at}`;
      throw new SqlParseError(message, { offset: start.offset, line: start.line, column: start.column }, expected, found);
    }
    if (err instanceof RangeError) throw tooDeep();
    throw err;
  }
}

function tooDeep(): SqlParseError {
  return new SqlParseError('The statement is nested too deeply to be parsed', { offset: 0, line: 1, column: 1 });
}

/** Compiling walks the tree recursively: a stack overflow becomes a parse error, not a crash. */
function guardDepth<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep();
    throw err;
  }
}

function describeExpectation(e: Expectation): string {
  switch (e.type) {
    case 'literal':
      return JSON.stringify(e.text);
    case 'end':
      return 'end of input';
    case 'any':
      return 'any character';
    case 'other':
      return e.description;
    default:
      return 'a character';
  }
}

function listExpected(items: string[]): string {
  if (items.length === 0) return 'nothing';
  if (items.length === 1) return items[0]!;
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

interface Evaluator {
  run(ctx: EvalContext): EvaluationResult;
}

export class CompiledStatement {
  /** The FROM topic filter, undefined when the statement has none (Basic Ingest only rules). */
  readonly from: string | undefined;
  readonly version: SqlVersion;
  /** True when the statement calls an external function (evaluate may return a Promise). */
  readonly usesExternal: boolean;
  /** SET variable names, in order. */
  readonly variableNames: readonly string[];
  private readonly evaluator: Evaluator;
  private readonly host: SqlHost | undefined;

  constructor(
    readonly sql: string,
    options: CompileOptions = {},
  ) {
    const version = options.version ?? DEFAULT_SQL_VERSION;
    if (!isSqlVersion(version)) {
      throw new SqlParseError(`Unsupported SQL version: ${version} (use 2015-10-08, 2016-03-23 or beta)`, {
        offset: 0,
        line: 1,
        column: 1,
      });
    }
    this.version = version;
    this.host = options.host;
    const ast = parseWith<StatementNode>(sql, 'Statement');
    const scope: Scope = { version: semanticsOf(version), sql, variables: new Set(), usesExternal: false };
    const sets: { name: string; value: Compiled }[] = [];
    for (const a of ast.sets) {
      if (scope.variables.has(a.name))
        throw new SqlParseError(`Variable @${a.name} is already defined; SET variables are immutable`, positionAt(sql, a.loc));
      if (a.name.length > 64)
        throw new SqlParseError(`Variable name @${a.name.slice(0, 16)}... is longer than 64 characters`, positionAt(sql, a.loc));
      sets.push({ name: a.name, value: guardDepth(() => compileExpr(a.expr, scope)) });
      scope.variables.add(a.name);
    }
    const where = ast.where ? guardDepth(() => compileExpr(ast.where!, scope)) : undefined;
    const select = guardDepth(() => compileSelect(ast.items, ast.value, scope));
    const onlyStar = select.star && ast.items.length === 1;
    const valueSelect = ast.value;
    const version2015 = scope.version === '2015-10-08';
    const hasSets = sets.length > 0;
    this.from = ast.from;
    this.usesExternal = scope.usesExternal;
    this.variableNames = sets.map((s) => s.name);
    this.evaluator = {
      run(ctx) {
        for (const s of sets) {
          const v = s.value(ctx);
          if (v !== undefined) setKey(ctx.vars, s.name, v);
        }
        const variables = hasSets ? plainVariables(ctx.vars) : {};
        if (where && where(ctx) !== true) {
          return { matched: false, kind: 'undefined', output: undefined, binary: undefined, errors: ctx.errors, variables };
        }
        if (onlyStar && !ctx.json) {
          return { matched: true, kind: 'binary', output: undefined, binary: ctx.raw, errors: ctx.errors, variables };
        }
        if (onlyStar) {
          // SELECT * over a JSON payload that is not an object forwards that value unchanged.
          return { matched: true, kind: 'object', output: ctx.root, binary: undefined, errors: ctx.errors, variables };
        }
        const out = storable(select.build(ctx));
        if (valueSelect) {
          if (out === undefined)
            return { matched: true, kind: 'undefined', output: undefined, binary: undefined, errors: ctx.errors, variables };
          if (version2015 && Array.isArray(out)) {
            ctx.errors.push({ function: 'SELECT VALUE', message: 'SELECT VALUE cannot output an array in SQL version 2015-10-08' });
            return { matched: true, kind: 'undefined', output: undefined, binary: undefined, errors: ctx.errors, variables };
          }
          return { matched: true, kind: 'value', output: out, binary: undefined, errors: ctx.errors, variables };
        }
        return { matched: true, kind: 'object', output: out, binary: undefined, errors: ctx.errors, variables };
      },
    };
  }

  /** Evaluates one message. Synchronous unless an external function had to ask an async host. */
  evaluate(message: SqlMessage, host: SqlHost | undefined = this.host): EvaluationResult | Promise<EvaluationResult> {
    const ctx = newContext(message, this.version, host);
    try {
      return this.evaluator.run(ctx);
    } catch (err) {
      if (err instanceof NeedsHost) return this.resolve(ctx, err);
      throw err;
    }
  }

  /** evaluate(), always as a Promise. */
  async evaluateAsync(message: SqlMessage, host: SqlHost | undefined = this.host): Promise<EvaluationResult> {
    return this.evaluate(message, host);
  }

  /** Compiles a substitution template that sees this statement's SET variables. */
  template(text: string): CompiledTemplate {
    return new CompiledTemplate(text, { version: this.version, host: this.host }, this.variableNames);
  }

  private async resolve(ctx: EvalContext, pending: NeedsHost): Promise<EvaluationResult> {
    return resolveWithHost(ctx, pending, () => this.evaluator.run(ctx));
  }
}

async function resolveWithHost<T>(ctx: EvalContext, first: NeedsHost, rerun: () => T): Promise<T> {
  let pending: NeedsHost = first;
  for (let calls = 1; ; calls++) {
    let outcome: HostOutcome;
    if (calls > MAX_EXTERNAL_CALLS)
      outcome = { ok: false, message: `More than ${MAX_EXTERNAL_CALLS} external function calls for one message` };
    else {
      try {
        outcome = { ok: true, value: await ctx.host!.call(pending.name, pending.args, ctx.message) };
      } catch (err) {
        outcome = { ok: false, message: err instanceof Error ? err.message : String(err) };
      }
    }
    ctx.hostResults.set(pending.key, outcome);
    ctx.errors = [];
    ctx.vars = Object.create(null) as Record<string, unknown>;
    ctx.current = ctx.root;
    try {
      return rerun();
    } catch (err) {
      if (!(err instanceof NeedsHost)) throw err;
      pending = err;
    }
  }
}

/** SET values for the result: a plain object, SqlDecimal unwrapped, "__proto__" kept as data. */
function plainVariables(vars: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(vars)) setKey(out, k, storable(vars[k]));
  return out;
}

function positionAt(sql: string, offset: number) {
  const before = sql.slice(0, offset).split('\n');
  return { offset, line: before.length, column: before[before.length - 1]!.length + 1 };
}

const EMPTY_BYTES = new Uint8Array(0);

interface ParsedPayload {
  raw: Uint8Array;
  root: unknown;
  json: boolean;
}

/**
 * Parsed payloads by their bytes: the rules engine evaluates one message for every rule it matches
 * and renders each action's templates against it, and parsing dominated that work. Evaluation never
 * mutates the parsed value, and a payload's bytes must not change once evaluated.
 */
const parsedPayloads = new WeakMap<Uint8Array, ParsedPayload>();

function parsePayload(payload: Uint8Array | string): ParsedPayload {
  if (typeof payload !== 'string') {
    const cached = parsedPayloads.get(payload);
    if (cached) return cached;
  }
  let text: string;
  let raw: Uint8Array;
  if (typeof payload === 'string') {
    text = payload;
    raw = Buffer.from(payload, 'utf8');
  } else {
    raw = payload;
    text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  }
  let root: unknown;
  let json = false;
  if (text.length > 0) {
    try {
      root = JSON.parse(text) as unknown;
      json = true;
    } catch {
      root = undefined;
    }
  }
  const parsed = { raw, root, json };
  if (typeof payload !== 'string') parsedPayloads.set(payload, parsed);
  return parsed;
}

function newContext(message: SqlMessage, version: SqlVersion, host: SqlHost | undefined): EvalContext {
  const { raw, root, json } = parsePayload(message.payload ?? EMPTY_BYTES);
  return {
    version: semanticsOf(version),
    versionName: version,
    message,
    raw,
    root,
    json,
    current: root,
    vars: Object.create(null) as Record<string, unknown>,
    errors: [],
    host,
    hostResults: new Map(),
    now: Date.now(),
  };
}

/** A substitution template `...${expr}...`, evaluated against the original payload and SET variables. */
export class CompiledTemplate {
  readonly usesExternal: boolean;
  private readonly parts: ({ text: string } | { expr: Compiled })[];
  private readonly version: SqlVersion;
  private readonly host: SqlHost | undefined;

  constructor(
    readonly text: string,
    options: CompileOptions = {},
    variables: readonly string[] = [],
  ) {
    const version = options.version ?? DEFAULT_SQL_VERSION;
    if (!isSqlVersion(version)) throw new SqlParseError(`Unsupported SQL version: ${version}`, { offset: 0, line: 1, column: 1 });
    this.version = version;
    this.host = options.host;
    const parsed = parseWith<TemplatePart[]>(text, 'Template');
    const scope: Scope = { version: semanticsOf(version), sql: text, variables: new Set(variables), usesExternal: false };
    this.parts = parsed.map((p) => (p.type === 'text' ? { text: p.text } : { expr: guardDepth(() => compileExpr(p.expr, scope)) }));
    this.usesExternal = scope.usesExternal;
  }

  /** Renders for one message; `variables` are the SET values from that message's EvaluationResult. */
  render(message: SqlMessage, variables: Record<string, unknown> = {}, host: SqlHost | undefined = this.host): string | Promise<string> {
    const ctx = newContext(message, this.version, host);
    const run = (): string => {
      for (const k of Object.keys(variables)) setKey(ctx.vars, k, variables[k]);
      let out = '';
      for (const p of this.parts) out += 'text' in p ? p.text : (toStringValue(p.expr(ctx)) ?? '');
      return out;
    };
    try {
      return run();
    } catch (err) {
      if (err instanceof NeedsHost) return resolveWithHost(ctx, err, run);
      throw err;
    }
  }
}

export function compile(sql: string, options: CompileOptions = {}): CompiledStatement {
  return new CompiledStatement(sql, options);
}

export function compileTemplate(text: string, options: CompileOptions = {}, variables: readonly string[] = []): CompiledTemplate {
  return new CompiledTemplate(text, options, variables);
}
