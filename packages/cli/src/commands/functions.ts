/**
 * `thicket functions`: the functions rules call where AWS calls Lambda (the `lambda` action and
 * `aws_lambda()`), each an HTTP(S) endpoint or a JavaScript module on the server's disk.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { adminRequest, type FunctionView } from '@thicket/server/client';
import { apiOptions, credentials, readable, type ApiOptions } from '../api-client.js';
import { jsonArgument, numberOption } from '../arguments.js';
import { fields, print, table } from '../output.js';

interface InvokeAnswer {
  functionArn: string;
  result?: unknown;
  functionError?: string;
  error?: { errorType: string; errorMessage: string };
  durationMs: number;
}

async function call<T>(o: ApiOptions, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  try {
    return await adminRequest<T>({ endpoint: o.endpoint, region: o.region, credentials: credentials(o), method, path, body });
  } catch (err) {
    throw readable(err, o);
  }
}

const fnPath = (name: string): string => `/_thicket/functions/${encodeURIComponent(name)}`;

function describe(f: FunctionView): string {
  const when = (s: number): string => new Date(s * 1000).toISOString();
  return fields({ ...f, target: f.url ?? f.module, createdAt: when(f.createdAt), lastModified: when(f.lastModified) }, [
    'functionName',
    'functionArn',
    'kind',
    'target',
    'timeout',
    'memorySize',
    'description',
    'createdAt',
    'lastModified',
  ]);
}

interface RegisterOptions extends ApiOptions {
  url?: string;
  module?: string;
  timeout?: string;
  memory?: string;
  description?: string;
}

export function registerFunctions(program: Command): void {
  const fns = program
    .command('functions')
    .description(
      'functions that rules invoke where AWS invokes Lambda (lambda action, aws_lambda()): HTTP(S) endpoints or JavaScript modules',
    );
  apiOptions(
    fns
      .command('register <name>')
      .description(
        'register (or replace) a function: --url for an endpoint the server POSTs events to (under a trusted URL prefix or an ENABLED topic rule destination), --module for an ESM file on the server exporting handler(event, context); a module needs a root key',
      ),
  )
    .option(
      '--url <url>',
      'an http(s) endpoint: the event is POSTed as JSON, the response body is the result; it must start with a prefix of rules.trustedUrlPrefixes or fall under an ENABLED topic rule destination',
    )
    .option('--module <path>', "a JavaScript module on the server's disk (a relative path is made absolute here)")
    .option('--timeout <seconds>', 'how long one invocation may run (1-900, default 3)')
    .option('--memory <mb>', "a module's memory size in MB (128-10240, default 128)")
    .option('--description <text>', 'what it is for')
    .action(async (name: string, o: RegisterOptions) => {
      if ((o.url === undefined) === (o.module === undefined)) throw new Error('give exactly one of --url and --module');
      const r = await call<{ function: FunctionView }>(o, 'PUT', fnPath(name), {
        url: o.url,
        module: o.module === undefined ? undefined : resolve(o.module),
        timeout: numberOption(o.timeout, '--timeout'),
        memorySize: numberOption(o.memory, '--memory'),
        description: o.description,
      });
      print(o.json, r, () => `registered function ${r.function.functionArn}\n`);
    });
  apiOptions(fns.command('list').description('list functions')).action(async (o: ApiOptions) => {
    const all: FunctionView[] = [];
    let nextToken: string | undefined;
    do {
      const page = await call<{ functions: FunctionView[]; nextToken?: string }>(
        o,
        'GET',
        `/_thicket/functions${nextToken ? `?nextToken=${encodeURIComponent(nextToken)}` : ''}`,
      );
      all.push(...page.functions);
      nextToken = page.nextToken;
    } while (nextToken);
    print(o.json, { functions: all }, () =>
      table(
        all.map((f) => ({ ...f, target: f.url ?? f.module })),
        ['functionName', 'kind', 'target', 'timeout'],
      ),
    );
  });
  apiOptions(fns.command('describe <name>').description('show a function')).action(async (name: string, o: ApiOptions) => {
    const r = await call<{ function: FunctionView }>(o, 'GET', fnPath(name));
    print(o.json, r, () => describe(r.function));
  });
  apiOptions(fns.command('delete <name>').description('delete a function (rules that invoke it then fail to their error action)')).action(
    async (name: string, o: ApiOptions) => {
      const r = await call<object>(o, 'DELETE', fnPath(name));
      print(o.json, r, () => `deleted function ${name}\n`);
    },
  );
  apiOptions(fns.command('invoke <name>').description('invoke a function with an event and print its result (to test it)'))
    .option('--payload <json>', 'the event: inline JSON, @file or - for standard input', '{}')
    .action(async (name: string, o: ApiOptions & { payload: string }) => {
      const event = jsonArgument(o.payload, '--payload');
      const r = await call<InvokeAnswer>(o, 'POST', `${fnPath(name)}/invocations`, event);
      if (o.json) print(true, r, () => '');
      else if (!r.error) process.stdout.write(`${JSON.stringify(r.result ?? null)}\n`);
      if (r.error) {
        if (!o.json) process.stderr.write(`${r.error.errorType}: ${r.error.errorMessage}\n`);
        process.exitCode = 1;
      }
    });
}
