/**
 * `nats` (Thicket's own action; AWS has none): publishes the rule's output to a NATS subject (a
 * substitution template) on a NATS server the operator configured under `rules.nats.<name>`,
 * optionally with headers, optionally through JetStream with the stream's acknowledgement. A rule
 * names a configured server (`server`, default `default`) and can never give an address itself.
 */
import type { CompiledTemplate } from '@thicket/iot-sql';
import {
  ActionError,
  nested,
  optionalBoolean,
  optionalList,
  optionalString,
  requiredString,
  violation,
  type ActionKind,
  type ActionMessage,
} from './types.js';
import { invalidRequest } from '../../aws/errors.js';

const MAX_SUBJECT = 1024;
/** A header name: printable ASCII without ':' (NATS headers follow MIME header syntax). */
const HEADER_KEY = /^[!-9;-~]{1,256}$/;

/** Why `subject` cannot be published to, or undefined when it can. */
export function subjectError(subject: string): string | undefined {
  if (subject === '') return 'the subject is empty';
  if (subject.length > MAX_SUBJECT) return `a subject has at most ${MAX_SUBJECT} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(subject)) return 'a subject contains no whitespace or control characters';
  if (/[*>]/.test(subject)) return "a subject to publish to contains no wildcard ('*' or '>')";
  if (subject.split('.').includes('')) return "a subject has no empty token (no leading, trailing or doubled '.')";
  if (subject.startsWith('$'))
    return "subjects starting with '$' are the NATS system's ($JS, $SYS, $KV, ...) and are not published to by rules";
  if (subject.startsWith('_INBOX.')) return "subjects starting with '_INBOX.' carry replies to requests and are not published to by rules";
  return undefined;
}

interface Header {
  key: string;
  value: CompiledTemplate;
}

export const nats: ActionKind = {
  key: 'nats',
  awsName: 'NatsAction',
  build(b) {
    const subjectText = requiredString(b, 'subject', MAX_SUBJECT);
    const subject = b.template(subjectText, 'subject');
    if (!subjectText.includes('${')) {
      const err = subjectError(subjectText);
      if (err) violation(`${b.path}.subject`, subjectText, err);
    }
    const server = optionalString(b, 'server', 64) ?? 'default';
    const servers = b.services.nats;
    const refused = servers ? servers.refusal(server, b.ns.accountId) : 'no NATS server is configured on this Thicket server';
    if (refused || !servers) throw invalidRequest(`${b.path}.server: ${refused}`);
    const jetstream = optionalBoolean(b, 'jetstream') ?? false;
    const headers: Header[] = [];
    (optionalList(b, 'headers', 100) ?? []).forEach((h, i) => {
      const hb = nested(b, `headers.${i + 1}.member`, (h ?? {}) as Record<string, unknown>);
      const key = requiredString(hb, 'key', 256);
      if (!HEADER_KEY.test(key)) violation(`${hb.path}.key`, key, "a header name is printable ASCII without ':' or spaces");
      headers.push({ key, value: b.template(requiredString(hb, 'value'), `headers.${i + 1}.value`) });
    });
    return {
      resource: subject.text,
      async run(m: ActionMessage) {
        const target = await m.render(subject);
        const err = subjectError(target);
        if (err) throw new ActionError(`Cannot publish to NATS subject '${target.slice(0, 200)}': ${err}`, target);
        const rendered: [string, string][] = [];
        for (const h of headers) {
          const v = await m.render(h.value);
          // eslint-disable-next-line no-control-regex
          if (/[\r\n\x00]/.test(v)) throw new ActionError(`The value of NATS header '${h.key}' contains a line break`, target);
          rendered.push([h.key, v]);
        }
        await servers.publish(server, { subject: target, payload: m.payload, headers: rendered, jetstream });
      },
    };
  },
};
