/**
 * Thicket's functions API under `/_thicket/functions` (SigV4, signing name `iot`, like the other
 * `/_thicket` APIs; AWS's Lambda speaks on another endpoint, so these paths cannot meet an AWS route).
 *
 * Who may register what: an HTTP(S) function is data the server sends events to, so any key that may
 * change its account may register one, for a URL the account may reach (a trusted prefix or an
 * ENABLED topic rule destination, whoever the caller); a module function is code the server runs,
 * so only a root key (the operator's) may register one. Read-only keys change nothing (the API
 * framework refuses them), and requests signed with temporary credentials never register modules,
 * whatever their role allows.
 */
import type { ApiContext, ApiRoute } from '../api/aws-api.js';
import { AwsError } from '../aws/errors.js';
import { FunctionError } from './function-error.js';
import { functionArn } from './function-names.js';
import type { Functions, RegisterCaller } from './functions.js';

function registerCaller(ctx: ApiContext): RegisterCaller {
  const key = ctx.key;
  if (key?.root) return { ns: ctx.ns, mayRunCode: true, why: '' };
  const who = key
    ? `access key ${key.accessKeyId} is not a root key`
    : `${ctx.role?.assumedRoleArn ?? 'this caller'} uses temporary credentials`;
  return {
    ns: ctx.ns,
    mayRunCode: false,
    why: `${who}; a module function runs code on the server, so only a root key may register one (an HTTP(S) function needs no more than this key)`,
  };
}

const NOT_FOUND = new Set(['ResourceNotFoundException']);

export function functionRoutes(functions: Functions): ApiRoute[] {
  const path = '/_thicket/functions/:functionName';
  return [
    {
      method: 'PUT',
      path,
      service: 'iot',
      operation: 'RegisterFunction',
      handler: (r) => functions.register(registerCaller(r.ctx), r.params.functionName, r.body),
    },
    {
      method: 'GET',
      path,
      service: 'iot',
      operation: 'GetFunction',
      readOnly: true,
      handler: (r) => functions.get(r.ctx.ns, r.params.functionName),
    },
    {
      method: 'GET',
      path: '/_thicket/functions',
      service: 'iot',
      operation: 'ListFunctions',
      readOnly: true,
      handler: (r) => functions.list(r.ctx.ns, r.query),
    },
    {
      method: 'DELETE',
      path,
      service: 'iot',
      operation: 'DeleteFunction',
      handler: (r) => functions.delete(r.ctx.ns, r.params.functionName),
    },
    {
      // Invoking runs the function with whatever it does; a read-only key only reads.
      method: 'POST',
      path: `${path}/invocations`,
      service: 'iot',
      operation: 'InvokeFunction',
      rawBody: true,
      handler: async (r) => {
        const name = r.params.functionName!;
        functions.get(r.ctx.ns, name);
        let event: unknown = {};
        if (r.rawBody.length > 0) {
          try {
            event = JSON.parse(r.rawBody.toString('utf8'));
          } catch (err) {
            throw new AwsError('InvalidRequestContentException', 400, `Could not parse request body into json: ${(err as Error).message}`);
          }
        }
        const started = Date.now();
        const arn = functionArn(r.ctx.ns, name);
        try {
          const result = await functions.invoke(r.ctx.ns, name, event);
          return { functionArn: arn, result, durationMs: Date.now() - started };
        } catch (err) {
          if (!(err instanceof FunctionError)) throw err;
          if (NOT_FOUND.has(err.errorType)) throw new AwsError(err.errorType, 404, err.message);
          // As Lambda's Invoke: the call succeeded, the function failed (X-Amz-Function-Error: Unhandled).
          return {
            functionArn: arn,
            functionError: 'Unhandled',
            error: { errorType: err.errorType, errorMessage: err.message },
            durationMs: Date.now() - started,
          };
        }
      },
    },
  ];
}
