/**
 * The MQTT 5 fields of an iot-data Publish as they travel over HTTP (reference dataplane §0.2,
 * controlplane §6): user properties as base64 of a JSON array of one-pair objects, correlation data
 * as base64, the payload format indicator by name. Each decoder says what is wrong in words the
 * caller can act on; the messages go back as InvalidRequestException.
 */
import type { UserProperties } from '@thicket/broker';
import { invalidRequest } from '../aws/errors.js';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The MQTT 5 Payload Format Indicator of `x-amz-mqtt5-payload-format-indicator`. */
export function payloadFormatIndicator(raw: string | undefined): 0 | 1 | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'UNSPECIFIED_BYTES') return 0;
  if (raw === 'UTF8_DATA') return 1;
  throw invalidRequest(`x-amz-mqtt5-payload-format-indicator must be UNSPECIFIED_BYTES or UTF8_DATA, not '${raw}'`);
}

function base64Bytes(raw: string, what: string): Buffer {
  const trimmed = raw.trim();
  if (!BASE64.test(trimmed) || trimmed.length % 4 === 1) throw invalidRequest(`${what} must be base64-encoded`);
  return Buffer.from(trimmed, 'base64');
}

/** `x-amz-mqtt5-correlation-data`: base64 of the bytes the MQTT 5 Correlation Data carries. */
export function correlationData(raw: string | undefined): Buffer | undefined {
  if (raw === undefined) return undefined;
  const bytes = base64Bytes(raw, 'x-amz-mqtt5-correlation-data');
  if (bytes.length > 0xffff) throw invalidRequest(`x-amz-mqtt5-correlation-data is ${bytes.length} bytes, more than 65535`);
  return bytes;
}

/**
 * `x-amz-mqtt5-user-properties`: base64 of `[{"name":"value"}, ...]`. Order is kept and a name may
 * repeat (MQTT 5 §3.3.2.3.7); an object with several pairs adds them in its own order.
 */
export function userProperties(raw: string | undefined): UserProperties | undefined {
  if (raw === undefined) return undefined;
  const what = 'x-amz-mqtt5-user-properties';
  let parsed: unknown;
  try {
    parsed = JSON.parse(base64Bytes(raw, what).toString('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) throw invalidRequest(`${what} must be base64 of a JSON array of objects: ${err.message}`);
    throw err;
  }
  if (!Array.isArray(parsed)) throw invalidRequest(`${what} must be base64 of a JSON array of objects such as [{"name":"value"}]`);
  const out: UserProperties = [];
  for (const item of parsed) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw invalidRequest(`${what}: every element must be an object such as {"name":"value"}, not ${JSON.stringify(item)}`);
    }
    for (const [name, value] of Object.entries(item as Record<string, unknown>)) {
      if (typeof value !== 'string') throw invalidRequest(`${what}: the value of "${name}" must be a string, not ${JSON.stringify(value)}`);
      out.push([name, value]);
    }
  }
  return out;
}

/** User properties as GetRetainedMessage returns them: the JSON text (the API base64-encodes it as a blob). */
export function userPropertiesJson(props: UserProperties | undefined): Buffer | undefined {
  if (!props || props.length === 0) return undefined;
  return Buffer.from(JSON.stringify(props.map(([name, value]) => ({ [name]: value }))));
}
