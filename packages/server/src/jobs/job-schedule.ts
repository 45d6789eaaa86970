/**
 * Job scheduling (reference controlplane §5.1, AWS SchedulingConfig and MaintenanceWindow): the
 * checks of `schedulingConfig` and of a template's `maintenanceWindows` with AWS's limits, and
 * the calendar questions the rollout asks of them (is a window open now, when do the next ones
 * open). Times are UTC; AWS writes them `YYYY-MM-DDTHH:MM`.
 */
import { invalidRequest } from '../aws/errors.js';
import { CronError, parseCron, type Cron } from './cron.js';
import { END_BEHAVIORS, type JobEndBehavior, type MaintenanceWindow, type SchedulingConfig } from './job-types.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
/** AWS: startTime and endTime at least thirty minutes from now and from each other. */
const MIN_LEAD = 30 * MINUTE;
/** AWS: startTime up to a year ahead; endTime up to two years ahead, and after startTime. */
const MAX_START_AHEAD = 365 * DAY;
const MAX_END_AHEAD = 2 * 365 * DAY;
/** AWS's model: durationInMinutes 1 to 1430 (23 h 50 min), cron text up to 256 characters. */
const MAX_WINDOW_MINUTES = 1430;
const MAX_CRON_CHARS = 256;
/**
 * Thicket's own bound (AWS documents none): every tick evaluates each window of each job that is
 * waiting to roll out, so a request must not be able to hand it thousands.
 */
export const MAX_WINDOWS = 10;
/** AWS: scheduledJobRollouts lists the next seven window starts. */
const ROLLOUTS_SHOWN = 7;

const TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** A schedule time as epoch ms: `YYYY-MM-DDTHH:MM` in UTC (seconds and a UTC offset are also read). */
export function parseScheduleTime(member: string, v: unknown): number {
  if (typeof v !== 'string' || v.length === 0 || v.length > 64) {
    // AWS's model allows 1 to 64 characters; longer text is not echoed back.
    const given = typeof v === 'string' ? `${v.length} characters` : JSON.stringify(v);
    throw invalidRequest(`${member} must be a date and time written YYYY-MM-DDTHH:MM (UTC), not ${given}`);
  }
  const m = TIME.exec(v);
  const [, y, mo, d, h, mi, s = '0', , zone] = m ?? [];
  const ms = m ? Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) : NaN;
  const check = new Date(ms);
  // Date.UTC rolls 2026-02-30 over into March: a date that does not exist is refused.
  if (
    !m ||
    check.getUTCFullYear() !== Number(y) ||
    check.getUTCMonth() !== Number(mo) - 1 ||
    check.getUTCDate() !== Number(d) ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 59
  ) {
    throw invalidRequest(`${member} must be a date and time written YYYY-MM-DDTHH:MM (UTC), not ${JSON.stringify(v)}`);
  }
  if (!zone || zone === 'Z') return ms;
  const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  return ms - (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3])) * MINUTE;
}

/** Epoch ms as AWS writes schedule times: `YYYY-MM-DDTHH:MM`, UTC. */
export const formatScheduleTime = (ms: number): string => new Date(ms).toISOString().slice(0, 16);

const crons = new Map<string, Cron>();

/** A window's cron expression, parsed once (the rollout asks about it every tick). */
function cronOf(text: string): Cron {
  let c = crons.get(text);
  if (!c) {
    c = parseCron(text);
    if (crons.size >= 1000) crons.clear();
    crons.set(text, c);
  }
  return c;
}

export function checkMaintenanceWindows(member: string, v: unknown, now: number): MaintenanceWindow[] {
  if (!Array.isArray(v)) throw invalidRequest(`${member} must be a list of {startTime, durationInMinutes}`);
  if (v.length > MAX_WINDOWS) throw invalidRequest(`${member} may have at most ${MAX_WINDOWS} maintenance windows, not ${v.length}`);
  return v.map((w: unknown, i) => {
    const at = `${member}[${i}]`;
    if (w === null || typeof w !== 'object' || Array.isArray(w))
      throw invalidRequest(`${at} must be an object with startTime and durationInMinutes`);
    const { startTime, durationInMinutes } = w as Record<string, unknown>;
    if (typeof startTime !== 'string' || startTime.length === 0 || startTime.length > MAX_CRON_CHARS) {
      throw invalidRequest(`${at}.startTime must be a cron expression of 1 to ${MAX_CRON_CHARS} characters, such as cron(0 2 ? * SUN *)`);
    }
    let cron: Cron;
    try {
      cron = cronOf(startTime);
    } catch (err) {
      if (err instanceof CronError) throw invalidRequest(`${at}.startTime ${JSON.stringify(startTime)} is not valid: ${err.message}`);
      throw err;
    }
    if (cron.nextAtOrAfter(now) === undefined)
      throw invalidRequest(`${at}.startTime ${JSON.stringify(startTime)} never occurs in the next three years`);
    if (
      typeof durationInMinutes !== 'number' ||
      !Number.isInteger(durationInMinutes) ||
      durationInMinutes < 1 ||
      durationInMinutes > MAX_WINDOW_MINUTES
    ) {
      throw invalidRequest(
        `${at}.durationInMinutes must be a whole number from 1 to ${MAX_WINDOW_MINUTES}, not ${JSON.stringify(durationInMinutes)}`,
      );
    }
    return { startTime, durationInMinutes };
  });
}

export interface CheckedSchedule {
  config: SchedulingConfig;
  startAt?: number;
  endAt?: number;
}

/** CreateJob's schedulingConfig, against the clock `now`. */
export function checkSchedulingConfig(v: unknown, now: number): CheckedSchedule {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidRequest('schedulingConfig must be an object');
  const o = v as Record<string, unknown>;
  const config: SchedulingConfig = {};
  const out: CheckedSchedule = { config };
  const iso = (ms: number) => formatScheduleTime(ms);
  if (o.startTime !== undefined) {
    const at = parseScheduleTime('schedulingConfig.startTime', o.startTime);
    if (at < now + MIN_LEAD) {
      throw invalidRequest(
        `schedulingConfig.startTime must be at least 30 minutes from now (${iso(now)} UTC), not ${o.startTime as string}`,
      );
    }
    if (at > now + MAX_START_AHEAD) {
      throw invalidRequest(`schedulingConfig.startTime may be at most one year from now (${iso(now)} UTC), not ${o.startTime as string}`);
    }
    config.startTime = o.startTime as string;
    out.startAt = at;
  }
  if (o.endTime !== undefined) {
    const at = parseScheduleTime('schedulingConfig.endTime', o.endTime);
    const end = o.endTime as string;
    if (at < now + MIN_LEAD)
      throw invalidRequest(`schedulingConfig.endTime must be at least 30 minutes from now (${iso(now)} UTC), not ${end}`);
    if (at > now + MAX_END_AHEAD)
      throw invalidRequest(`schedulingConfig.endTime may be at most two years from now (${iso(now)} UTC), not ${end}`);
    if (out.startAt !== undefined && at < out.startAt + MIN_LEAD) {
      throw invalidRequest(`schedulingConfig.endTime must be at least 30 minutes after startTime ${config.startTime!}, not ${end}`);
    }
    if (out.startAt !== undefined && at > out.startAt + MAX_END_AHEAD) {
      throw invalidRequest(`schedulingConfig.endTime may be at most two years after startTime ${config.startTime!}, not ${end}`);
    }
    config.endTime = end;
    out.endAt = at;
  }
  if (o.endBehavior !== undefined) {
    if (typeof o.endBehavior !== 'string' || !(END_BEHAVIORS as readonly string[]).includes(o.endBehavior)) {
      throw invalidRequest(`schedulingConfig.endBehavior must be one of ${END_BEHAVIORS.join(', ')}, not ${JSON.stringify(o.endBehavior)}`);
    }
    config.endBehavior = o.endBehavior as JobEndBehavior;
  }
  if (o.maintenanceWindows !== undefined) {
    config.maintenanceWindows = checkMaintenanceWindows('schedulingConfig.maintenanceWindows', o.maintenanceWindows, now);
  }
  return out;
}

/** Whether one of the windows is open at `now` (a window opening at s is open from s to s + duration). */
export function inMaintenanceWindow(windows: MaintenanceWindow[] | undefined, now: number): boolean {
  if (!windows?.length) return true;
  return windows.some((w) => {
    return cronOf(w.startTime).nextAtOrAfter(now - w.durationInMinutes * MINUTE + 1, now) !== undefined;
  });
}

/** The next (at most seven) window openings from `from`, before `until` when the job has an endTime. */
export function nextRollouts(windows: MaintenanceWindow[], from: number, until: number | undefined): number[] {
  const starts = new Set<number>();
  for (const w of windows) {
    const cron = cronOf(w.startTime);
    let t = from;
    for (let i = 0; i < ROLLOUTS_SHOWN; i++) {
      const s = cron.nextAtOrAfter(t);
      if (s === undefined || (until !== undefined && s >= until)) break;
      starts.add(s);
      t = s + 1;
    }
  }
  return [...starts].sort((a, b) => a - b).slice(0, ROLLOUTS_SHOWN);
}
