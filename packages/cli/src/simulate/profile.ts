/**
 * Simulation profiles: what each simulated device sends and how it behaves, from a small YAML or
 * JSON file. Values are generated per device (noise around a mean, a bounded random walk, a choice,
 * a counter, a constant); telemetry streams publish them on topics with `{thingName}` and `{index}`
 * placeholders, periodically or in bursts; shadows report some of them and follow deltas; jobs
 * succeed or fail at a rate; connections drop and come back.
 */
import { parse as parseYaml } from 'yaml';

export type ValueSpec =
  | { type: 'noise'; mean: number; stddev: number; decimals: number }
  | { type: 'walk'; start: number; step: number; min: number; max: number; decimals: number }
  | { type: 'choice'; values: unknown[]; weights: number[] }
  | { type: 'counter'; start: number; step: number }
  | { type: 'constant'; value: unknown };

export interface TelemetrySpec {
  topic: string;
  intervalMs: number;
  qos: 0 | 1;
  values: Record<string, ValueSpec>;
  /** Now and then, `count` messages `intervalMs` apart instead of one. */
  burst?: { everyMs: number; count: number; intervalMs: number };
}

export interface Profile {
  telemetry: TelemetrySpec[];
  /** Report these values in the classic shadow every `reportEveryMs`; deltas are applied and reported. */
  shadow: { reportEveryMs: number; values: string[] } | undefined;
  jobs: { successRate: number; durationMs: number };
  churn: { disconnectsPerHour: number; offlineMs: number };
}

export const DEFAULT_PROFILE: Profile = {
  telemetry: [
    {
      topic: 'dt/{thingName}/telemetry',
      intervalMs: 5000,
      qos: 0,
      values: {
        temperature: { type: 'noise', mean: 21, stddev: 0.5, decimals: 2 },
        humidity: { type: 'walk', start: 45, step: 0.5, min: 0, max: 100, decimals: 1 },
      },
    },
  ],
  shadow: { reportEveryMs: 30_000, values: ['temperature'] },
  jobs: { successRate: 1, durationMs: 1000 },
  churn: { disconnectsPerHour: 0, offlineMs: 5000 },
};

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/** `500ms`, `5s`, `2m`, `1h` or a number of milliseconds. */
export function durationMs(v: unknown, what: string): number {
  if (typeof v === 'number' && v >= 0) return v;
  const m = typeof v === 'string' ? DURATION.exec(v.trim()) : null;
  if (!m) throw new Error(`${what} must be a duration such as 500ms, 5s, 2m or 1h, not ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
}

function num(o: Record<string, unknown>, key: string, where: string, fallback?: number): number {
  const v = o[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${where}.${key} must be a number`);
  return v;
}

function object(v: unknown, where: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where} must be a map`);
  return v as Record<string, unknown>;
}

function valueSpec(v: unknown, where: string): ValueSpec {
  if (typeof v !== 'object' || v === null) return { type: 'constant', value: v };
  const o = object(v, where);
  const decimals = num(o, 'decimals', where, 2);
  switch (o.type) {
    case 'noise':
      return { type: 'noise', mean: num(o, 'mean', where, 0), stddev: num(o, 'stddev', where, 1), decimals };
    case 'walk': {
      const min = num(o, 'min', where, -1e9);
      const max = num(o, 'max', where, 1e9);
      if (min > max) throw new Error(`${where}: min is above max`);
      return { type: 'walk', start: num(o, 'start', where, 0), step: num(o, 'step', where, 1), min, max, decimals };
    }
    case 'choice': {
      if (!Array.isArray(o.values) || o.values.length === 0) throw new Error(`${where}.values must be a non-empty list`);
      const weights = o.weights === undefined ? o.values.map(() => 1) : o.weights;
      if (!Array.isArray(weights) || weights.length !== o.values.length || !weights.every((w) => typeof w === 'number' && w >= 0)) {
        throw new Error(`${where}.weights must be one non-negative number per value`);
      }
      return { type: 'choice', values: o.values, weights: weights as number[] };
    }
    case 'counter':
      return { type: 'counter', start: num(o, 'start', where, 0), step: num(o, 'step', where, 1) };
    case 'constant':
      return { type: 'constant', value: o.value };
    default:
      throw new Error(`${where}.type must be noise, walk, choice, counter or constant, not ${JSON.stringify(o.type)}`);
  }
}

function telemetry(v: unknown, i: number): TelemetrySpec {
  const where = `telemetry[${i}]`;
  const o = object(v, where);
  if (typeof o.topic !== 'string' || o.topic === '') throw new Error(`${where}.topic is required`);
  const qos = o.qos ?? 0;
  if (qos !== 0 && qos !== 1) throw new Error(`${where}.qos must be 0 or 1`);
  const values: Record<string, ValueSpec> = {};
  for (const [k, spec] of Object.entries(object(o.values ?? {}, `${where}.values`))) values[k] = valueSpec(spec, `${where}.values.${k}`);
  const out: TelemetrySpec = { topic: o.topic, intervalMs: durationMs(o.interval ?? '5s', `${where}.interval`), qos, values };
  if (out.intervalMs < 10) throw new Error(`${where}.interval must be at least 10ms`);
  if (o.burst !== undefined) {
    const b = object(o.burst, `${where}.burst`);
    out.burst = {
      everyMs: durationMs(b.every ?? '60s', `${where}.burst.every`),
      count: num(b, 'count', `${where}.burst`, 10),
      intervalMs: durationMs(b.interval ?? '50ms', `${where}.burst.interval`),
    };
  }
  return out;
}

/** Parses a profile (YAML or JSON text); every key optional, unknown keys refused. */
export function parseProfile(text: string): Profile {
  const doc = object(parseYaml(text) ?? {}, 'the profile');
  for (const k of Object.keys(doc)) {
    if (!['telemetry', 'shadow', 'jobs', 'churn'].includes(k)) throw new Error(`the profile has an unknown key ${k}`);
  }
  const p: Profile = structuredClone(DEFAULT_PROFILE);
  if (doc.telemetry !== undefined) {
    if (!Array.isArray(doc.telemetry)) throw new Error('telemetry must be a list of streams');
    p.telemetry = doc.telemetry.map(telemetry);
  }
  if (doc.shadow === false || doc.shadow === null) p.shadow = undefined;
  else if (doc.shadow !== undefined) {
    const s = object(doc.shadow, 'shadow');
    const values = s.values ?? [];
    if (!Array.isArray(values) || !values.every((x) => typeof x === 'string'))
      throw new Error('shadow.values must be a list of value names');
    p.shadow = { reportEveryMs: durationMs(s.reportEvery ?? '30s', 'shadow.reportEvery'), values };
  }
  if (doc.jobs !== undefined) {
    const j = object(doc.jobs, 'jobs');
    const successRate = num(j, 'successRate', 'jobs', 1);
    if (successRate < 0 || successRate > 1) throw new Error('jobs.successRate must be between 0 and 1');
    p.jobs = { successRate, durationMs: durationMs(j.duration ?? '1s', 'jobs.duration') };
  }
  if (doc.churn !== undefined) {
    const c = object(doc.churn, 'churn');
    p.churn = { disconnectsPerHour: num(c, 'disconnectsPerHour', 'churn', 0), offlineMs: durationMs(c.offline ?? '5s', 'churn.offline') };
  }
  return p;
}

/** Produces a device's values, one generator state per device and value. */
export class ValueGenerator {
  private readonly state = new Map<string, number>();
  /** The last value produced for each name (what the shadow reports). */
  readonly latest: Record<string, unknown> = {};

  constructor(private readonly random: () => number = Math.random) {}

  next(name: string, spec: ValueSpec): unknown {
    switch (spec.type) {
      case 'constant':
        return spec.value;
      case 'noise':
        return round(spec.mean + spec.stddev * this.gaussian(), spec.decimals);
      case 'walk': {
        const was = this.state.get(name) ?? spec.start;
        const now = Math.min(spec.max, Math.max(spec.min, was + (this.random() * 2 - 1) * spec.step));
        this.state.set(name, now);
        return round(now, spec.decimals);
      }
      case 'counter': {
        const now = this.state.get(name) ?? spec.start;
        this.state.set(name, now + spec.step);
        return now;
      }
      case 'choice': {
        const total = spec.weights.reduce((a, b) => a + b, 0);
        let r = this.random() * total;
        for (let i = 0; i < spec.values.length; i++) {
          r -= spec.weights[i]!;
          if (r < 0) return spec.values[i];
        }
        return spec.values[spec.values.length - 1];
      }
    }
  }

  /** Every value of a stream, as one message. */
  message(values: Record<string, ValueSpec>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, spec] of Object.entries(values)) out[k] = this.latest[k] = this.next(k, spec);
    return out;
  }

  private gaussian(): number {
    // Box-Muller: two uniform draws make one standard normal one.
    const u = 1 - this.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.random());
  }
}

function round(v: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}

/** A topic with the device's placeholders filled in. */
export function topicFor(template: string, thingName: string, index: number): string {
  return template.replaceAll('{thingName}', thingName).replaceAll('{index}', String(index));
}
