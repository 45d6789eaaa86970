/** `thicket shadow get|update|delete|list`: device shadows over the iot-data API, and `--watch` for live deltas. */
import type { Command } from 'commander';
import {
  DeleteThingShadowCommand,
  GetThingShadowCommand,
  IoTDataPlaneClient,
  ListNamedShadowsForThingCommand,
  UpdateThingShadowCommand,
} from '@aws-sdk/client-iot-data-plane';
import { responseError, signedFetch } from '@thicket/server/client';
import { apiOptions, credentials, readable, withApi, type ApiOptions } from '../api-client.js';
import { jsonArgument } from '../arguments.js';
import { print } from '../output.js';
import { all } from './registry.js';

type ShadowOptions = ApiOptions & { name?: string };

function dataClient(o: ApiOptions): IoTDataPlaneClient {
  return new IoTDataPlaneClient({ endpoint: o.endpoint, region: o.region, credentials: credentials(o), maxAttempts: 1 });
}

const decode = (payload: Uint8Array | undefined): unknown => JSON.parse(Buffer.from(payload ?? []).toString('utf8'));

function shadowLabel(thing: string, name: string | undefined): string {
  return name ? `${thing} (shadow ${name})` : thing;
}

export function registerShadow(program: Command): void {
  const shadow = program.command('shadow').description('device shadows (classic and named)');
  const named = (cmd: Command): Command => apiOptions(cmd).option('--name <shadowName>', 'a named shadow (default: the classic shadow)');

  named(shadow.command('get <thingName>').description('print a shadow document'))
    .option('--watch', 'then print each delta as it happens, until interrupted')
    .action(async (thing: string, o: ShadowOptions & { watch?: boolean }) => {
      let doc: unknown;
      try {
        doc = await withApi(o, dataClient, async (c) =>
          decode((await c.send(new GetThingShadowCommand({ thingName: thing, shadowName: o.name }))).payload),
        );
      } catch (err) {
        // Watching a shadow that does not exist yet is fine: it will print the first delta.
        if (!o.watch || !/ResourceNotFoundException/.test((err as Error).message)) throw err;
        process.stderr.write(`${shadowLabel(thing, o.name)} has no shadow yet; watching for deltas\n`);
      }
      if (doc !== undefined) print(true, doc, () => '');
      if (o.watch) await watchDeltas(thing, o);
    });

  named(shadow.command('update <thingName>').description('merge desired and/or reported state into a shadow'))
    .option('--desired <json>', 'desired state (JSON, @file or -)')
    .option('--reported <json>', 'reported state (JSON, @file or -)')
    .option('--document <json>', 'a whole request document {"state":...} (JSON, @file or -)')
    .option('--expected-version <n>', 'only if the shadow is at this version (optimistic locking: 409 otherwise)')
    .action((thing: string, o: ShadowOptions & { desired?: string; reported?: string; document?: string; expectedVersion?: string }) => {
      let request: Record<string, unknown>;
      if (o.document !== undefined) {
        if (o.desired !== undefined || o.reported !== undefined)
          throw new Error('--document cannot be combined with --desired or --reported');
        request = jsonArgument(o.document, '--document') as Record<string, unknown>;
      } else {
        if (o.desired === undefined && o.reported === undefined) throw new Error('give --desired, --reported or --document');
        const state: Record<string, unknown> = {};
        if (o.desired !== undefined) state.desired = jsonArgument(o.desired, '--desired');
        if (o.reported !== undefined) state.reported = jsonArgument(o.reported, '--reported');
        request = { state };
      }
      if (o.expectedVersion !== undefined) {
        const v = Number(o.expectedVersion);
        if (!Number.isInteger(v) || v < 0) throw new Error(`--expected-version: "${o.expectedVersion}" is not a version number`);
        request.version = v;
      }
      return withApi(o, dataClient, async (c) => {
        const out = await c.send(
          new UpdateThingShadowCommand({ thingName: thing, shadowName: o.name, payload: Buffer.from(JSON.stringify(request)) }),
        );
        print(true, decode(out.payload), () => '');
      });
    });

  named(shadow.command('delete <thingName>').description('delete a shadow')).action((thing: string, o: ShadowOptions) =>
    withApi(o, dataClient, async (c) => {
      const out = decode((await c.send(new DeleteThingShadowCommand({ thingName: thing, shadowName: o.name }))).payload) as {
        version: number;
      };
      print(o.json, out, () => `deleted the shadow of ${shadowLabel(thing, o.name)} at version ${out.version}\n`);
    }),
  );

  apiOptions(shadow.command('list <thingName>').description("list a thing's named shadows")).action((thing: string, o: ApiOptions) =>
    withApi(o, dataClient, async (c) => {
      const names = await all<string>(async (nextToken) => {
        const page = await c.send(new ListNamedShadowsForThingCommand({ thingName: thing, nextToken, pageSize: 100 }));
        return { items: page.results, next: page.nextToken };
      });
      print(o.json, { results: names }, () => (names.length ? names.join('\n') + '\n' : '(none)\n'));
    }),
  );
}

/** Streams `/update/delta` of the shadow from the server's watch API and prints each one. */
async function watchDeltas(thing: string, o: ShadowOptions & { watch?: boolean }): Promise<void> {
  const prefix = o.name ? `$aws/things/${thing}/shadow/name/${o.name}` : `$aws/things/${thing}/shadow`;
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  let res: Response;
  try {
    res = await signedFetch(
      {
        endpoint: o.endpoint,
        region: o.region,
        credentials: credentials(o),
        method: 'GET',
        path: '/_thicket/subscribe',
        query: { topic: `${prefix}/update/delta` },
      },
      abort.signal,
    );
  } catch (err) {
    throw readable(err, o);
  }
  if (!res.ok || !res.body) throw await responseError(res);
  // The server subscribes before it answers: from here on no delta is missed.
  process.stderr.write(`watching deltas of ${prefix} (Ctrl-C to stop)\n`);
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        printEvent(block, o.json);
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  }
}

function printEvent(block: string, json: boolean | undefined): void {
  const lines = block.split('\n');
  const type = lines.find((l) => l.startsWith('event: '))?.slice(7);
  const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
  if (!data) return;
  if (type === 'dropped') {
    process.stderr.write(`(${(JSON.parse(data) as { count: number }).count} deltas dropped: the terminal did not keep up)\n`);
    return;
  }
  const msg = JSON.parse(data) as { payload?: string; timestamp: number };
  if (msg.payload === undefined) return;
  if (json) {
    process.stdout.write(msg.payload + '\n');
    return;
  }
  const delta = JSON.parse(msg.payload) as { version?: number; state?: unknown };
  process.stdout.write(`${new Date(msg.timestamp).toISOString()}  version ${delta.version}  delta ${JSON.stringify(delta.state)}\n`);
}
