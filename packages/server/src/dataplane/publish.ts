/**
 * iot-data Publish (`POST /topics/{topic}`, reference dataplane §0.2, controlplane §6): an HTTP
 * request becomes one MQTT message routed exactly as a device's PUBLISH would be — to subscribers,
 * the retained store, lifecycle and shadow services and the rules engine — after the same checks
 * the broker makes on an MQTT PUBLISH: topic syntax and limits, reserved topics, the caller's
 * `iot:Publish` / `iot:RetainPublish` policy decision, UTF-8 when the payload says so, and the
 * largest packet the broker accepts.
 */
import { isUtf8 } from 'node:buffer';
import { Message, topicNameError, type Broker, type BrokerConfig, type MessageProperties, type QoS } from '@thicket/broker';
import { iotArn, mountOf } from '../accounts/namespace.js';
import { RawReply, firstValue, type ApiRequest } from '../api/aws-api.js';
import { parseBool } from '../api/pagination.js';
import { AwsError, forbidden, invalidRequest } from '../aws/errors.js';
import { correlationData, payloadFormatIndicator, userProperties } from './mqtt5-fields.js';

/** AWS raises a Message Expiry Interval of 0 to 1 second (reference dataplane §1.9). */
const MIN_EXPIRY_SECONDS = 1;
const MAX_U32 = 0xffff_ffff;

/** Why a topic (or response topic) is not acceptable as a publish topic, or null. */
export function publishTopicError(topic: string, config: BrokerConfig, what = 'topic'): string | null {
  if (topic.includes('\u0000')) return `${what} must not contain the character U+0000`;
  const err = topicNameError(topic, config);
  return err && what !== 'topic' ? `${what}: ${err}` : err;
}

function qosOf(raw: string | undefined, config: BrokerConfig): QoS {
  if (raw === undefined || raw === '') return 0;
  if (raw !== '0' && raw !== '1') throw invalidRequest(`qos must be 0 or 1, not '${raw}'`);
  const qos = Number(raw) as QoS;
  if (qos > config.maximumQoS) throw invalidRequest(`qos ${qos} is above this server's maximum QoS ${config.maximumQoS}`);
  return qos;
}

function messageExpiry(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > MAX_U32)
    throw invalidRequest(`messageExpiry must be a whole number of seconds from 0 to ${MAX_U32}, not '${raw}'`);
  return Math.max(MIN_EXPIRY_SECONDS, n);
}

function text(raw: string | undefined, name: string): string | undefined {
  if (raw === undefined) return undefined;
  if (raw.includes('\u0000')) throw invalidRequest(`${name} must not contain the character U+0000`);
  if (Buffer.byteLength(raw) > 0xffff) throw invalidRequest(`${name} is longer than 65535 bytes`);
  return raw;
}

/** The MQTT 5 properties a Publish request carries in its query and headers. */
function propertiesOf(r: ApiRequest, config: BrokerConfig): MessageProperties {
  const props: MessageProperties = {};
  const pfi = payloadFormatIndicator(firstValue(r.headers['x-amz-mqtt5-payload-format-indicator']));
  if (pfi !== undefined) props.payloadFormatIndicator = pfi;
  const expiry = messageExpiry(r.query.messageExpiry);
  if (expiry !== undefined) props.messageExpiryInterval = expiry;
  const contentType = text(r.query.contentType, 'contentType');
  if (contentType !== undefined) props.contentType = contentType;
  const responseTopic = text(r.query.responseTopic, 'responseTopic');
  if (responseTopic !== undefined) {
    const err = publishTopicError(responseTopic, config, 'responseTopic');
    if (err) throw invalidRequest(err);
    props.responseTopic = responseTopic;
  }
  const cd = correlationData(firstValue(r.headers['x-amz-mqtt5-correlation-data']));
  if (cd !== undefined) props.correlationData = cd;
  const up = userProperties(firstValue(r.headers['x-amz-mqtt5-user-properties']));
  if (up !== undefined && up.length > 0) props.userProperties = up;
  return props;
}

/** Handles one Publish; resolves once a QoS 1 message is as durable as an acknowledged MQTT publish. */
export async function publish(r: ApiRequest, broker: Broker): Promise<RawReply> {
  const config = broker.config;
  const topic = r.params['*'] ?? '';
  const topicErr = publishTopicError(topic, config);
  if (topicErr) throw invalidRequest(topicErr);
  const qos = qosOf(r.query.qos, config);
  const retain = parseBool(r.query.retain === '' ? undefined : r.query.retain, 'retain') ?? false;
  if (retain && !config.retainAvailable) throw invalidRequest('retained messages are not available on this server');
  const properties = propertiesOf(r, config);

  // The broker's reserved-topic rules for MQTT PUBLISH (AWS profile: only `$aws/...`, never retained).
  if (!broker.reservedTopicAllowed(topic)) throw forbidden(`Publishing to the reserved topic '${topic}' is not allowed`);
  if (retain && topic.startsWith('$') && config.reservedTopicPrefixes) {
    throw forbidden(`Retained messages cannot be published to the reserved topic '${topic}'`);
  }
  const arn = iotArn(r.ctx.ns, `topic/${topic}`);
  r.ctx.authorize('iot:Publish', arn);
  if (retain) r.ctx.authorize('iot:RetainPublish', arn);

  const payload = r.rawBody;
  if (properties.payloadFormatIndicator === 1 && !isUtf8(payload)) {
    throw invalidRequest('The payload is marked UTF8_DATA (x-amz-mqtt5-payload-format-indicator) but is not valid UTF-8');
  }
  const msg = new Message(topic, payload, qos, retain, properties);
  // The packet an MQTT 5 subscriber would receive must fit the broker's limit, as a device's PUBLISH must.
  const size = msg.encode(true, qos, retain, false, 1, msg.createdAt).length;
  if (size > config.maxPacketSize) {
    throw new AwsError(
      'RequestEntityTooLargeException',
      413,
      `The message is ${size} bytes as an MQTT packet (payload ${payload.length} bytes), more than the limit of ${config.maxPacketSize} bytes`,
    );
  }
  // AWS's rules see `n/a` as the client id of an HTTPS publish; the principal is the caller's credentials.
  const principal = r.ctx.certificateId ?? r.ctx.key?.accessKeyId ?? r.ctx.role?.assumedRoleArn;
  const publisher = { clientId: 'n/a', principal, transport: { remoteAddress: r.sourceIp } };
  const mustCommit = broker.route(broker.namespace(mountOf(r.ctx.ns)), msg, undefined, publisher);
  if (qos > 0 && mustCommit) await broker.whenDurable();
  return new RawReply(Buffer.alloc(0));
}
