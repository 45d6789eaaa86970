/**
 * `republish`: publishes the rule's output to a topic (a substitution template) with the given QoS
 * and MQTT 5 headers, through the same router as a device's publish. `$$` in the topic stands for
 * `$` (republish to `$aws/things/<thing>/shadow/update`); reserved Jobs topics are refused, as on AWS.
 */
import { topicNameError, type MessageProperties, type QoS } from '@thicket/broker';
import type { CompiledTemplate } from '@thicket/iot-sql';
import { mountOf } from '../../accounts/namespace.js';
import {
  ActionError,
  nested,
  oneOf,
  optionalInteger,
  optionalList,
  optionalObject,
  optionalString,
  requiredString,
  type ActionKind,
  type ActionMessage,
} from './types.js';

const JOBS_TOPIC = /^\$aws\/things\/[^/]+\/jobs(\/|$)/;
const FORMATS = ['UNSPECIFIED_BYTES', 'UTF8_DATA'] as const;

interface Headers {
  payloadFormatIndicator?: CompiledTemplate;
  contentType?: CompiledTemplate;
  responseTopic?: CompiledTemplate;
  correlationData?: CompiledTemplate;
  messageExpiry?: CompiledTemplate;
  userProperties: { key: CompiledTemplate; value: CompiledTemplate }[];
}

export const republish: ActionKind = {
  key: 'republish',
  awsName: 'RepublishAction',
  build(b) {
    optionalString(b, 'roleArn');
    const topic = b.template(requiredString(b, 'topic'), 'topic');
    const qos = (optionalInteger(b, 'qos', 0, 1) ?? 0) as QoS;
    const h = optionalObject(b, 'headers');
    const headers: Headers = { userProperties: [] };
    if (h) {
      const hb = nested(b, 'headers', h);
      for (const f of ['payloadFormatIndicator', 'contentType', 'responseTopic', 'correlationData', 'messageExpiry'] as const) {
        const v = optionalString(hb, f);
        if (v !== undefined) headers[f] = b.template(v, `headers.${f}`);
      }
      const ups = optionalList(hb, 'userProperties', 100) ?? [];
      ups.forEach((u, i) => {
        const ub = nested(hb, `userProperties.${i + 1}.member`, (u ?? {}) as Record<string, unknown>);
        headers.userProperties.push({
          key: b.template(requiredString(ub, 'key'), `headers.userProperties.${i + 1}.key`),
          value: b.template(requiredString(ub, 'value'), `headers.userProperties.${i + 1}.value`),
        });
      });
      // A literal format must be one AWS knows; a template is checked per message.
      if (typeof h.payloadFormatIndicator === 'string' && !h.payloadFormatIndicator.includes('${'))
        oneOf(hb, 'payloadFormatIndicator', FORMATS);
    }
    const services = b.services;
    const hasHeaders = h !== undefined;
    // Synchronous when the templates are (no external function): most republishes make no Promise.
    const send = (m: ActionMessage, target: string, properties: MessageProperties): void | Promise<void> => {
      const broker = services.broker();
      if (!broker) throw new ActionError('The broker is not running', target);
      const err = target === '' ? 'the topic template rendered an empty topic' : topicNameError(target, broker.config);
      if (err) throw new ActionError(`Cannot republish to '${target}': ${err}`, target);
      if (JOBS_TOPIC.test(target)) throw new ActionError(`Republishing to the reserved Jobs topic '${target}' is not allowed`, target);
      const mustCommit = services.publish(m, { mount: mountOf(m.ns), topic: target, payload: m.payload, qos, properties });
      if (qos > 0 && mustCommit) return broker.whenDurable();
    };
    const withHeaders = (m: ActionMessage, target: string): void | Promise<void> =>
      hasHeaders ? renderHeaders(headers, m).then((p) => send(m, target, p)) : send(m, target, {});
    return {
      resource: topic.text,
      run(m: ActionMessage) {
        const target = m.render(topic);
        return typeof target === 'string' ? withHeaders(m, target) : target.then((t) => withHeaders(m, t));
      },
    };
  },
};

async function renderHeaders(h: Headers, m: ActionMessage): Promise<MessageProperties> {
  const p: MessageProperties = {};
  if (h.payloadFormatIndicator) {
    const v = await m.render(h.payloadFormatIndicator);
    if (v === 'UTF8_DATA') p.payloadFormatIndicator = 1;
    else if (v === 'UNSPECIFIED_BYTES') p.payloadFormatIndicator = 0;
    else if (v !== '') throw new ActionError(`payloadFormatIndicator must be UTF8_DATA or UNSPECIFIED_BYTES, not '${v}'`);
  }
  if (h.contentType) p.contentType = await m.render(h.contentType);
  if (h.responseTopic) {
    const v = await m.render(h.responseTopic);
    if (v !== '') p.responseTopic = v;
  }
  if (h.correlationData) {
    const v = await m.render(h.correlationData);
    if (v !== '') p.correlationData = Buffer.from(v, 'base64');
  }
  if (h.messageExpiry) {
    const v = await m.render(h.messageExpiry);
    if (v !== '') {
      const n = Number(v);
      if (!/^\d+$/.test(v) || n > 0xffffffff) throw new ActionError(`messageExpiry must be a whole number of seconds, not '${v}'`);
      p.messageExpiryInterval = n;
    }
  }
  if (h.userProperties.length > 0) {
    p.userProperties = [];
    for (const u of h.userProperties) p.userProperties.push([await m.render(u.key), await m.render(u.value)]);
  }
  return p;
}
