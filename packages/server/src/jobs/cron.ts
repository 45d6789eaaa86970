/**
 * AWS cron expressions, as maintenance windows (and EventBridge schedules) write them:
 * `cron(minutes hours day-of-month month day-of-week year)`, evaluated in UTC at minute resolution.
 * Fields take numbers, `*`, lists (`,`), ranges (`-`, wrapping past the end as in `FRI-MON`) and
 * steps (`/`); months and weekdays also take names (JAN-DEC, SUN-SAT, 1 = Sunday). Day-of-month
 * also takes `L` (last day), `LW` (last weekday) and `nW` (weekday nearest to day n, within the
 * month); day-of-week takes `L` (Saturday), `nL` (last weekday n of the month) and `n#k` (k-th
 * weekday n). One of day-of-month and day-of-week must be `?`: AWS refuses both given.
 */

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** How far ahead an occurrence is looked for: a job may be scheduled up to two years ahead, plus margin. */
const HORIZON_DAYS = 3 * 366;

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

export class CronError extends Error {}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
}

const FIELDS: FieldSpec[] = [
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day-of-week', min: 1, max: 7, names: WEEKDAYS },
  { name: 'year', min: 1970, max: 2199 },
];

/** Day-of-month and day-of-week items beyond plain values, decided per month. */
type DaySpecial =
  | { kind: 'last-day' }
  | { kind: 'last-weekday' }
  | { kind: 'nearest-weekday'; day: number }
  | { kind: 'last-of-weekday'; weekday: number }
  | { kind: 'nth-weekday'; weekday: number; nth: number };

interface Field {
  any: boolean;
  values: Set<number>;
  specials: DaySpecial[];
}

export interface Cron {
  /** The expression as given. */
  readonly text: string;
  /**
   * The first occurrence at or after `ms` (epoch ms), within about three years and not after
   * `notAfter` when given (which keeps "is a window open now" to a day or two of search); undefined if none.
   */
  nextAtOrAfter(ms: number, notAfter?: number): number | undefined;
}

function value(spec: FieldSpec, token: string): number {
  const upper = token.toUpperCase();
  const named = spec.names?.indexOf(upper) ?? -1;
  if (named >= 0) return named + 1;
  if (!/^\d{1,4}$/.test(token)) throw new CronError(`${spec.name} has ${JSON.stringify(token)}, which is not a value of that field`);
  const n = Number(token);
  if (n < spec.min || n > spec.max) throw new CronError(`${spec.name} must be from ${spec.min} to ${spec.max}, not ${n}`);
  return n;
}

function addRange(spec: FieldSpec, out: Set<number>, from: number, to: number, step: number): void {
  // A range past the end wraps around (FRI-MON, 22-2).
  const span = to >= from ? to - from : spec.max - from + 1 + (to - spec.min);
  for (let i = 0; i <= span; i += step) out.add(((from - spec.min + i) % (spec.max - spec.min + 1)) + spec.min);
}

function parseItem(spec: FieldSpec, item: string, field: Field): void {
  const dom = spec.name === 'day-of-month';
  const dow = spec.name === 'day-of-week';
  const upper = item.toUpperCase();
  if (dom && upper === 'L') return void field.specials.push({ kind: 'last-day' });
  if (dom && upper === 'LW') return void field.specials.push({ kind: 'last-weekday' });
  if (dom && /^\d{1,2}W$/.test(upper)) return void field.specials.push({ kind: 'nearest-weekday', day: value(spec, upper.slice(0, -1)) });
  if (dow && upper === 'L') return void field.values.add(7);
  if (dow && /^[A-Z0-9]{1,3}L$/.test(upper))
    return void field.specials.push({ kind: 'last-of-weekday', weekday: value(spec, upper.slice(0, -1)) });
  if (dow && upper.includes('#')) {
    const [w, n] = upper.split('#');
    if (!/^[1-5]$/.test(n ?? '')) throw new CronError(`${spec.name} item ${JSON.stringify(item)}: the number after # must be from 1 to 5`);
    return void field.specials.push({ kind: 'nth-weekday', weekday: value(spec, w ?? ''), nth: Number(n) });
  }
  const [range, stepText, extra] = item.split('/');
  if (extra !== undefined || range === undefined || range === '')
    throw new CronError(`${spec.name} has a malformed item ${JSON.stringify(item)}`);
  let step = 1;
  if (stepText !== undefined) {
    if (!/^\d{1,4}$/.test(stepText) || Number(stepText) < 1)
      throw new CronError(`${spec.name} item ${JSON.stringify(item)}: the step after / must be a whole number of at least 1`);
    step = Number(stepText);
  }
  if (range === '*') {
    if (step === 1) field.any = true;
    else addRange(spec, field.values, spec.min, spec.max, step);
    return;
  }
  const bounds = range.split('-');
  if (bounds.length > 2) throw new CronError(`${spec.name} has a malformed range ${JSON.stringify(range)}`);
  const from = value(spec, bounds[0]!);
  const to = bounds.length === 2 ? value(spec, bounds[1]!) : stepText !== undefined ? spec.max : from;
  addRange(spec, field.values, from, to, step);
}

function parseField(spec: FieldSpec, text: string): Field {
  const field: Field = { any: false, values: new Set(), specials: [] };
  if (text === '?') return field;
  for (const item of text.split(',')) parseItem(spec, item, field);
  return field;
}

const daysIn = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();
/** 1 = Sunday, as AWS counts. */
const weekdayOf = (year: number, month: number, day: number): number => new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;

function specialMatches(s: DaySpecial, year: number, month: number, day: number): boolean {
  const last = daysIn(year, month);
  const wd = weekdayOf(year, month, day);
  switch (s.kind) {
    case 'last-day':
      return day === last;
    case 'last-weekday': {
      const lastWd = weekdayOf(year, month, last);
      const target = lastWd === 1 ? last - 2 : lastWd === 7 ? last - 1 : last;
      return day === target;
    }
    case 'nearest-weekday': {
      if (s.day > last) return false;
      const w = weekdayOf(year, month, s.day);
      // Saturday moves to Friday (or to Monday when it is the 1st), Sunday to Monday (or Friday at the month's end).
      let target = s.day;
      if (w === 7) target = s.day === 1 ? 3 : s.day - 1;
      else if (w === 1) target = s.day === last ? s.day - 2 : s.day + 1;
      return day === target;
    }
    case 'last-of-weekday':
      return wd === s.weekday && day + 7 > last;
    case 'nth-weekday':
      return wd === s.weekday && Math.ceil(day / 7) === s.nth;
  }
}

function dayMatches(f: Field, year: number, month: number, day: number, weekday: boolean): boolean {
  if (f.any) return true;
  if (f.values.has(weekday ? weekdayOf(year, month, day) : day)) return true;
  return f.specials.some((s) => specialMatches(s, year, month, day));
}

const sorted = (f: Field, spec: FieldSpec): number[] => {
  if (!f.any) return [...f.values].sort((a, b) => a - b);
  return Array.from({ length: spec.max - spec.min + 1 }, (_, i) => spec.min + i);
};

/** Parses `cron(...)`; throws CronError naming what is wrong. */
export function parseCron(text: string): Cron {
  const m = /^cron\((.*)\)$/s.exec(text.trim());
  if (!m) throw new CronError('it must be a cron expression written as cron(minutes hours day-of-month month day-of-week year)');
  const parts = m[1]!.trim().split(/\s+/);
  if (parts.length !== 6)
    throw new CronError(`it must have 6 fields (minutes hours day-of-month month day-of-week year), not ${parts.length}`);
  const [minutes, hours, dom, month, dow, year] = parts.map((p, i) => {
    if (p === '?' && i !== 2 && i !== 4) throw new CronError(`${FIELDS[i]!.name} cannot be ?; only day-of-month and day-of-week can`);
    return parseField(FIELDS[i]!, p);
  }) as [Field, Field, Field, Field, Field, Field];
  if ((parts[2] === '?') === (parts[4] === '?')) {
    throw new CronError('exactly one of day-of-month and day-of-week must be ?: they cannot both be given');
  }
  const byDow = parts[2] === '?';
  const minuteList = sorted(minutes, FIELDS[0]!);
  const hourList = sorted(hours, FIELDS[1]!);
  const matchesDay = (y: number, mo: number, d: number): boolean =>
    (year.any || year.values.has(y)) && (month.any || month.values.has(mo)) && dayMatches(byDow ? dow : dom, y, mo, d, byDow);

  return {
    text,
    nextAtOrAfter(ms: number, notAfter = Infinity): number | undefined {
      const start = Math.ceil(ms / MINUTE_MS) * MINUTE_MS;
      const firstDay = Math.floor(start / DAY_MS) * DAY_MS;
      for (let i = 0; i <= HORIZON_DAYS; i++) {
        const dayStart = firstDay + i * DAY_MS;
        if (dayStart > notAfter) return undefined;
        const date = new Date(dayStart);
        if (!matchesDay(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate())) continue;
        for (const h of hourList) {
          for (const min of minuteList) {
            const t = dayStart + h * 3_600_000 + min * MINUTE_MS;
            if (t >= start) return t <= notAfter ? t : undefined;
          }
        }
      }
      return undefined;
    },
  };
}
