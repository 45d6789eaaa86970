/**
 * Request validation: payload bytes to a checked `UpdateRequest` or client token. Checks run in a
 * fixed order (encoding, JSON, state, sections, section content, version, clientToken); AWS does
 * not document its order, so the first failing check decides the message.
 */
import { ShadowError } from './errors.js';
import { getOwn, hasOwn, isJsonObject, utf8Length, type Json, type JsonObject } from './json.js';
import { resolveLimits, type ShadowLimits, type UpdateRequest } from './types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes to text; malformed UTF-8 is a 415. A string is taken as already decoded. */
export function decodePayload(payload: Uint8Array | string): string {
  if (typeof payload === 'string') return payload;
  try {
    return utf8.decode(payload);
  } catch {
    throw ShadowError.unsupportedEncoding();
  }
}

function parseJson(text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    throw ShadowError.invalidJson();
  }
}

/** Parses and validates an `/update` payload (MQTT or REST body). Throws `ShadowError` (400, 415). */
export function parseUpdateRequest(payload: Uint8Array | string, limits?: Partial<ShadowLimits>): UpdateRequest {
  return validateUpdateRequest(parseJson(decodePayload(payload)), limits);
}

/**
 * Validates an already parsed request, e.g. one that arrived over a local IPC channel. The result
 * shares the input's section objects; `applyUpdate` never mutates them.
 */
export function validateUpdateRequest(value: unknown, limits?: Partial<ShadowLimits>): UpdateRequest {
  const lim = resolveLimits(limits);
  if (!isJsonObject(value)) throw ShadowError.invalidJson();
  if (!hasOwn(value, 'state')) throw ShadowError.missingState();

  const state = value['state'];
  let outState: UpdateRequest['state'];
  if (state === null) outState = null;
  else if (!isJsonObject(state)) throw ShadowError.stateNotObject();
  else {
    for (const key of Object.keys(state)) if (key !== 'desired' && key !== 'reported') throw ShadowError.invalidStateNode();
    outState = {};
    if (hasOwn(state, 'desired')) outState.desired = section(state['desired']!, ShadowError.desiredNotObject);
    if (hasOwn(state, 'reported')) outState.reported = section(state['reported']!, ShadowError.reportedNotObject);
    if (outState.desired) checkContent(outState.desired, 1, false, lim.maxDepth);
    if (outState.reported) checkContent(outState.reported, 1, false, lim.maxDepth);
  }

  const request: UpdateRequest = { state: outState };
  if (hasOwn(value, 'version')) request.version = checkVersion(value['version']!);
  const token = tokenOf(value, lim);
  if (token !== undefined) request.clientToken = token;
  return request;
}

/**
 * Parses a `/get` or `/delete` payload: empty (or blank) means no token; otherwise it must be a
 * JSON object whose only inspected field is `clientToken`. AWS says the `/delete` content is
 * ignored, yet echoes its clientToken, so both topics get the same treatment.
 */
export function parseTokenRequest(payload: Uint8Array | string, limits?: Partial<ShadowLimits>): { clientToken?: string } {
  const text = decodePayload(payload);
  if (text.trim() === '') return {};
  const value = parseJson(text);
  if (!isJsonObject(value)) throw ShadowError.invalidJson();
  const token = tokenOf(value, resolveLimits(limits));
  return token === undefined ? {} : { clientToken: token };
}

/**
 * The clientToken to echo on a rejection, read from any payload without throwing. AWS includes it
 * only "if a client token was used when publishing valid JSON", so malformed payloads and tokens
 * that are themselves invalid give undefined.
 */
export function clientTokenOf(payload: Uint8Array | string, limits?: Partial<ShadowLimits>): string | undefined {
  try {
    const value = JSON.parse(decodePayload(payload)) as unknown;
    if (!isJsonObject(value)) return undefined;
    return tokenOf(value, resolveLimits(limits));
  } catch {
    return undefined;
  }
}

function tokenOf(request: JsonObject, limits: ShadowLimits): string | undefined {
  if (!hasOwn(request, 'clientToken')) return undefined;
  const token = getOwn(request, 'clientToken');
  if (typeof token !== 'string' || utf8Length(token) > limits.maxClientTokenBytes) throw ShadowError.invalidClientToken();
  return token;
}

function checkVersion(version: Json): number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) throw ShadowError.invalidVersion();
  return version;
}

function section(value: Json, error: () => ShadowError): JsonObject | null {
  if (value === null || isJsonObject(value)) return value;
  throw error();
}

/**
 * Depth and array checks over one section. Levels count containers: the section object is level
 * 1, each nested object or array adds one, scalars add none. With the default 6 this admits the
 * five nested levels below the section that the AWS quota page once pictured, plus the section.
 * A null inside an array (at any depth, including in objects within it) cannot be a deletion and
 * AWS rejects it; the message is the generic 400 because AWS documents no specific one. Recursion
 * stops at the first level past the limit, so hostile nesting cannot exhaust the stack.
 */
function checkContent(value: Json, level: number, inArray: boolean, maxDepth: number): void {
  if (value === null) {
    if (inArray) throw ShadowError.invalidJson();
    return;
  }
  if (typeof value !== 'object') return;
  if (level > maxDepth) throw ShadowError.tooDeep(maxDepth);
  if (Array.isArray(value)) for (const item of value) checkContent(item, level + 1, true, maxDepth);
  else for (const key of Object.keys(value)) checkContent(value[key]!, level + 1, inArray, maxDepth);
}
