/**
 * The process a module function runs in, started by module-invoker.ts: it imports the operator's
 * ESM module, then runs `handler(event, context)` for one event at a time as Lambda's Node runtime
 * does. Events arrive on stdin, one JSON line each; answers leave on file descriptor 3, one JSON line
 * each; what the handler logs goes to stdout and stderr, which the server forwards to its log.
 * Nothing here is trusted by the server: it bounds what it reads and kills this process at will.
 */
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

interface Request {
  id: number;
  event: string;
  requestId: string;
  deadline: number;
}

type Handler = (event: unknown, context: object, callback?: (err: unknown, result?: unknown) => void) => unknown;

const [modulePath = '', functionName = '', functionArn = '', memory = ''] = process.argv.slice(2);
const out = new Socket({ fd: 3, readable: false, writable: true });

function send(message: object): void {
  out.write(`${JSON.stringify(message)}\n`);
}

function describe(err: unknown): { errorType: string; errorMessage: string } {
  if (err instanceof Error) return { errorType: err.name || 'Error', errorMessage: err.message };
  return { errorType: 'Error', errorMessage: typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err)) };
}

function fail(errorType: string, errorMessage: string): void {
  send({ ready: false, errorType, errorMessage });
  out.end(() => process.exit(1));
}

async function load(): Promise<Handler | undefined> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
  } catch (err) {
    const d = describe(err);
    fail('Runtime.ImportModuleError', `Cannot load ${modulePath}: ${d.errorType}: ${d.errorMessage}`);
    return undefined;
  }
  const fromDefault = (mod.default as Record<string, unknown> | undefined)?.handler;
  const handler = typeof mod.handler === 'function' ? mod.handler : fromDefault;
  if (typeof handler !== 'function') {
    fail('Runtime.HandlerNotFound', `${modulePath} does not export a function named handler`);
    return undefined;
  }
  return handler as Handler;
}

/** Runs the handler: a returned value or Promise, or (for a handler that takes three arguments) the callback. */
function run(handler: Handler, event: unknown, context: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const callback = (err: unknown, result?: unknown): void => (err ? reject(err) : resolve(result));
    const r = handler.length >= 3 ? handler(event, context, callback) : handler(event, context);
    if (handler.length < 3) resolve(r);
    else if (r !== undefined && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).then(resolve, reject);
  });
}

async function invoke(handler: Handler, req: Request): Promise<void> {
  const context = {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn,
    memoryLimitInMB: memory,
    awsRequestId: req.requestId,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, req.deadline - Date.now()),
  };
  try {
    const result = await run(handler, JSON.parse(req.event) as unknown, context);
    let text: string;
    try {
      text = result === undefined ? 'null' : JSON.stringify(result);
    } catch (err) {
      send({
        id: req.id,
        ok: false,
        errorType: 'Runtime.MarshalError',
        errorMessage: `Unable to marshal the response: ${describe(err).errorMessage}`,
      });
      return;
    }
    send({ id: req.id, ok: true, result: text });
  } catch (err) {
    send({ id: req.id, ok: false, ...describe(err) });
  }
}

const handler = await load();
if (handler) {
  send({ ready: true });
  // One event at a time: the server sends the next only after this one's answer.
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) await invoke(handler, JSON.parse(line) as Request);
  // stdin closed: the server retired this instance or went away.
  process.exit(0);
}
