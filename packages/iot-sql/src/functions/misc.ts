// Collection access, Undefined tests, message metadata and the external (host-resolved) functions.
import { randomUUID } from 'node:crypto';
import { fail, NeedsHost, type EvalContext } from '../context.js';
import { isPlainObject, setKey, storable, toInt, toStringValue } from '../values.js';
import { V15, V16, type FunctionSpec, type FunctionTable } from './spec.js';

const TRANSFORM_LIMIT_BYTES = 128 * 1024;

function topic(args: unknown[], ctx: EvalContext): unknown {
  const t = ctx.message.topic;
  if (args.length === 0) return t;
  const n = toInt(args[0]);
  if (typeof n !== 'number' || n < 1) return undefined;
  return t.split('/')[n - 1];
}

function get(args: unknown[]): unknown {
  const [coll, key] = args;
  if (Array.isArray(coll)) {
    const i = toInt(key);
    return typeof i === 'number' && i >= 0 && i < coll.length ? coll[i] : undefined;
  }
  if (typeof coll === 'string') {
    const i = toInt(key);
    return typeof i === 'number' && i >= 0 && i < coll.length ? coll[i] : undefined;
  }
  if (isPlainObject(coll) && typeof key === 'string') {
    return Object.prototype.hasOwnProperty.call(coll, key) ? coll[key] : undefined;
  }
  return undefined;
}

function mqttProperty(args: unknown[], ctx: EvalContext): unknown {
  const name = toStringValue(args[0]);
  const props = ctx.message.properties;
  if (!props || name === undefined) return undefined;
  switch (name.toLowerCase()) {
    case 'format_indicator': {
      const f = props.payloadFormatIndicator;
      if (f === undefined) return undefined;
      return f === true || f === 1 ? 'UTF8_DATA' : 'UNSPECIFIED_BYTES';
    }
    case 'content_type':
      return props.contentType;
    case 'response_topic':
      return props.responseTopic;
    case 'correlation_data': {
      const c = props.correlationData;
      if (c === undefined) return undefined;
      return typeof c === 'string' ? Buffer.from(c, 'utf8').toString('base64') : Buffer.from(c).toString('base64');
    }
    default:
      return undefined;
  }
}

function userProperties(args: unknown[], ctx: EvalContext): unknown {
  const key = toStringValue(args[0]);
  const up = ctx.message.properties?.userProperties;
  if (key === undefined || up === undefined) return undefined;
  const values: string[] = [];
  if (Array.isArray(up)) {
    for (const [k, v] of up) if (k === key) values.push(v);
  } else if (Object.prototype.hasOwnProperty.call(up, key)) {
    const v = up[key]!;
    values.push(...(Array.isArray(v) ? v : [v]));
  }
  return values.length ? values : undefined;
}

function transform(args: unknown[], ctx: EvalContext): unknown {
  const mode = toStringValue(args[0]);
  const [, obj, arr] = args;
  if (mode !== 'enrichArray') return undefined;
  if (!isPlainObject(obj) || !Array.isArray(arr)) return undefined;
  const out: unknown[] = [];
  for (const item of arr) {
    if (!isPlainObject(item)) continue;
    const merged: Record<string, unknown> = {};
    for (const k of Object.keys(item)) setKey(merged, k, item[k]);
    for (const k of Object.keys(obj)) setKey(merged, k, obj[k]);
    out.push(merged);
  }
  if (Buffer.byteLength(JSON.stringify(out), 'utf8') > TRANSFORM_LIMIT_BYTES) {
    return fail(ctx, 'transform', `The result of transform exceeds ${TRANSFORM_LIMIT_BYTES} bytes`);
  }
  return out;
}

/** An external function: answered from this message's cache, else handed to the host (NeedsHost). */
function external(name: string, min: number, max: number, since = V15): FunctionSpec {
  return {
    min,
    max,
    since,
    external: true,
    volatile: true,
    fn: (args, ctx) => {
      const plain = args.map(storable);
      const key = `${name}\u0000${JSON.stringify(plain)}`;
      const done = ctx.hostResults.get(key);
      if (done) return done.ok ? done.value : fail(ctx, name, done.message);
      if (!ctx.host) return fail(ctx, name, `${name}() needs an external resolver, and none is configured for this rules engine`);
      throw new NeedsHost(key, name, plain);
    },
  };
}

export const miscFunctions: FunctionTable = {
  get: { min: 2, max: 2, since: V15, fn: get },
  get_or_default: { min: 2, max: 2, since: V15, fn: (args) => (args[0] === undefined ? args[1] : args[0]) },
  isnull: { min: 1, max: 1, since: V15, fn: (args) => args[0] === null },
  isundefined: { min: 1, max: 1, since: V16, fn: (args) => args[0] === undefined },
  transform: { min: 3, max: 3, since: V16, fn: transform },
  sql_version: { min: 0, max: 0, since: V15, fn: (_args, ctx) => ctx.versionName },
  topic: { min: 0, max: 1, since: V15, volatile: true, fn: topic },
  clientid: { min: 0, max: 0, since: V15, volatile: true, fn: (_a, ctx) => ctx.message.clientId ?? 'n/a' },
  principal: { min: 0, max: 0, since: V15, volatile: true, fn: (_a, ctx) => ctx.message.principal },
  accountid: { min: 0, max: 0, since: V15, volatile: true, fn: (_a, ctx) => ctx.message.accountId },
  sourceip: { min: 0, max: 0, since: V15, volatile: true, fn: (_a, ctx) => ctx.message.sourceIp },
  traceid: { min: 0, max: 0, since: V15, volatile: true, fn: (_a, ctx) => ctx.message.traceId },
  timestamp: { min: 0, max: 0, since: V15, volatile: true, fn: (_a, ctx) => ctx.message.timestamp ?? ctx.now },
  newuuid: { min: 0, max: 0, since: V15, volatile: true, fn: () => randomUUID() },
  get_mqtt_property: { min: 1, max: 1, since: V15, volatile: true, fn: mqttProperty },
  get_user_properties: { min: 1, max: 1, since: V15, volatile: true, fn: userProperties },
  aws_lambda: external('aws_lambda', 2, 2),
  machinelearning_predict: external('machinelearning_predict', 3, 3),
  get_registry_data: external('get_registry_data', 3, 3),
  get_thing_shadow: external('get_thing_shadow', 2, 3, V16),
  get_dynamodb: external('get_dynamodb', 4, 6, V16),
  get_secret: external('get_secret', 4, 4, V16),
};
