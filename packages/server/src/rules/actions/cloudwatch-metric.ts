/**
 * `cloudwatchMetric`: AWS's action shape, with Prometheus in place of CloudWatch. Every field is a
 * substitution template; each message records one sample of the metric (namespace, name, unit)
 * in the account's series on `/metrics` (metric-series.ts). What CloudWatch's PutMetricData would
 * refuse (a value that is not a number, an unknown unit, a timestamp out of its window) fails the
 * action, and the rule's error action sees it.
 */
import type { CompiledTemplate } from '@thicket/iot-sql';
import { ActionError, optionalString, requiredString, type ActionKind, type ActionMessage } from './types.js';

/** CloudWatch's StandardUnit values. */
export const METRIC_UNITS = [
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
];

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** CloudWatch refuses values beyond ±2^360. */
const MAX_MAGNITUDE = 2 ** 360;
/** CloudWatch accepts data points up to two weeks old and two hours ahead. */
const MAX_AGE_SEC = 14 * 24 * 3600;
const MAX_AHEAD_SEC = 2 * 3600;
const MAX_NAME = 255;

function number(text: string, what: string): number {
  const v = text.trim();
  const n = DECIMAL.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new ActionError(`The ${what} '${text.slice(0, 100)}' is not a number`);
  return n;
}

function name(text: string, what: string): string {
  if (text === '') throw new ActionError(`The ${what} is empty`);
  if (text.length > MAX_NAME) throw new ActionError(`The ${what} has more than ${MAX_NAME} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(text)) throw new ActionError(`The ${what} contains a control character`);
  return text;
}

export const cloudwatchMetric: ActionKind = {
  key: 'cloudwatchMetric',
  awsName: 'CloudwatchMetricAction',
  build(b) {
    requiredString(b, 'roleArn');
    const t = (field: string, required: boolean): CompiledTemplate | undefined => {
      const text = required ? requiredString(b, field) : optionalString(b, field);
      return text === undefined ? undefined : b.template(text, field);
    };
    const namespace = t('metricNamespace', true)!;
    const metric = t('metricName', true)!;
    const value = t('metricValue', true)!;
    const unit = t('metricUnit', true)!;
    const timestamp = t('metricTimestamp', false);
    const series = b.services.metricSeries;
    return {
      resource: `${namespace.text}/${metric.text}`,
      async run(m: ActionMessage) {
        const ns = name(await m.render(namespace), 'metric namespace');
        if (ns.startsWith(':')) throw new ActionError(`The metric namespace '${ns}' starts with ':'`);
        if (ns.startsWith('AWS/'))
          throw new ActionError(`The metric namespace '${ns}' starts with 'AWS/', which is reserved for AWS services`);
        const metricName = name(await m.render(metric), 'metric name');
        const resource = `${ns}/${metricName}`;
        try {
          const u = await m.render(unit);
          if (!METRIC_UNITS.includes(u))
            throw new ActionError(`The metric unit '${u.slice(0, 100)}' is not one of ${METRIC_UNITS.join(', ')}`);
          const v = number(await m.render(value), 'metric value');
          if (Math.abs(v) > MAX_MAGNITUDE) throw new ActionError(`The metric value ${v} is beyond ±2^360, which CloudWatch refuses`);
          const now = Date.now() / 1000;
          let at = now;
          const ts = timestamp === undefined ? '' : await m.render(timestamp);
          if (ts !== '') {
            at = number(ts, 'metric timestamp');
            if (at < now - MAX_AGE_SEC || at > now + MAX_AHEAD_SEC) {
              throw new ActionError(
                `The metric timestamp ${ts} (epoch seconds) is more than two weeks old or more than two hours ahead, which CloudWatch refuses`,
              );
            }
          }
          if (!series) throw new ActionError('Metrics are not available on this server', resource);
          const refused = series.record({ ns: m.ns, namespace: ns, metric: metricName, unit: u, value: v, timestamp: at });
          if (refused) throw new ActionError(`Metric ${resource} was not recorded: ${refused}`);
        } catch (err) {
          if (err instanceof ActionError && err.resource === undefined) throw new ActionError(err.message, resource);
          throw err;
        }
      },
    };
  },
};
