// parse_time (Joda-Time DateTimeFormat patterns) and time_to_epoch (java.time DateTimeFormatter).
// Supported pattern letters are listed in FORMAT_LETTERS and PARSE_LETTERS (and in the README);
// other letters make the call fail with an error naming the letter. Text is English only.
import { fail, type EvalContext } from '../context.js';
import { toDecimal, toStringValue } from '../values.js';
import { V16, type FunctionTable } from './spec.js';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

type Token = { letter: string; count: number } | { literal: string };

/** Splits a pattern into letter runs and literals ('quoted text', '' for a quote). */
function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === "'") {
      if (pattern[i + 1] === "'") {
        tokens.push({ literal: "'" });
        i += 2;
        continue;
      }
      let j = i + 1;
      let text = '';
      while (j < pattern.length) {
        if (pattern[j] === "'") {
          if (pattern[j + 1] === "'") {
            text += "'";
            j += 2;
            continue;
          }
          break;
        }
        text += pattern[j];
        j++;
      }
      tokens.push({ literal: text });
      i = j + 1;
    } else if (/[A-Za-z]/.test(c)) {
      let j = i;
      while (pattern[j] === c) j++;
      tokens.push({ letter: c, count: j - i });
      i = j;
    } else {
      tokens.push({ literal: c });
      i++;
    }
  }
  return tokens;
}

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

/** Offset of `zone` from UTC in minutes at instant `ms`, or undefined for an unknown zone. */
export function zoneOffsetMinutes(zone: string, ms: number): number | undefined {
  const upper = zone.toUpperCase();
  if (upper === 'UTC' || upper === 'Z' || upper === 'GMT' || upper === 'UT') return 0;
  const fixed = /^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$/.exec(zone);
  if (fixed) {
    const minutes = Number(fixed[2]) * 60 + Number(fixed[3] ?? 0);
    return minutes > 18 * 60 ? undefined : fixed[1] === '-' ? -minutes : minutes;
  }
  let f = offsetFormatters.get(zone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
    } catch {
      return undefined;
    }
    offsetFormatters.set(zone, f);
  }
  const name = f.formatToParts(ms).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  if (!m) return 0;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === '-' ? -minutes : minutes;
}

function zoneName(zone: string, ms: number, long: boolean): string {
  const upper = zone.toUpperCase();
  if (upper === 'UTC' || upper === 'Z' || upper === 'GMT') return long ? 'Coordinated Universal Time' : 'UTC';
  if (/^(?:UTC|GMT)?[+-]/.test(zone)) return formatOffset(zoneOffsetMinutes(zone, ms) ?? 0, true);
  const f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: long ? 'long' : 'short' });
  return f.formatToParts(ms).find((p) => p.type === 'timeZoneName')?.value ?? zone;
}

function formatOffset(minutes: number, colon: boolean): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return colon ? `${sign}${hh}:${mm}` : `${sign}${hh}${mm}`;
}

function padNumber(n: number, width: number): string {
  const s = String(Math.abs(n)).padStart(width, '0');
  return n < 0 ? `-${s}` : s;
}

export const FORMAT_LETTERS = 'G y Y M d D E e a H k K h m s S z Z';

/** Formats `ms` like Joda-Time's DateTimeFormat.forPattern(pattern).withZone(zone). */
export function formatJoda(pattern: string, ms: number, zone: string): string | { error: string } {
  const offset = zoneOffsetMinutes(zone, ms);
  if (offset === undefined) return { error: `Unknown time zone ${JSON.stringify(zone)}` };
  const d = new Date(ms + offset * 60_000);
  const year = d.getUTCFullYear();
  const hour = d.getUTCHours();
  let out = '';
  for (const t of tokenize(pattern)) {
    if ('literal' in t) {
      out += t.literal;
      continue;
    }
    const n = t.count;
    switch (t.letter) {
      case 'G':
        out += year > 0 ? 'AD' : 'BC';
        break;
      case 'y':
      case 'Y':
        out += n === 2 ? padNumber(((year % 100) + 100) % 100, 2) : padNumber(t.letter === 'Y' && year <= 0 ? 1 - year : year, n);
        break;
      case 'M':
        out += n >= 4 ? MONTHS[d.getUTCMonth()] : n === 3 ? MONTHS[d.getUTCMonth()]!.slice(0, 3) : padNumber(d.getUTCMonth() + 1, n);
        break;
      case 'd':
        out += padNumber(d.getUTCDate(), n);
        break;
      case 'D': {
        const dayOfYear = Math.floor((Date.UTC(year, d.getUTCMonth(), d.getUTCDate()) - Date.UTC(year, 0, 1)) / 86_400_000) + 1;
        out += padNumber(dayOfYear, n);
        break;
      }
      case 'E':
        out += n >= 4 ? DAYS[d.getUTCDay()] : DAYS[d.getUTCDay()]!.slice(0, 3);
        break;
      case 'e':
        out += padNumber(d.getUTCDay() === 0 ? 7 : d.getUTCDay(), n);
        break;
      case 'a':
        out += hour < 12 ? 'AM' : 'PM';
        break;
      case 'H':
        out += padNumber(hour, n);
        break;
      case 'k':
        out += padNumber(hour === 0 ? 24 : hour, n);
        break;
      case 'K':
        out += padNumber(hour % 12, n);
        break;
      case 'h':
        out += padNumber(hour % 12 === 0 ? 12 : hour % 12, n);
        break;
      case 'm':
        out += padNumber(d.getUTCMinutes(), n);
        break;
      case 's':
        out += padNumber(d.getUTCSeconds(), n);
        break;
      case 'S': {
        const millis = String(d.getUTCMilliseconds()).padStart(3, '0');
        out += n <= 3 ? millis.slice(0, n) : millis.padEnd(n, '0');
        break;
      }
      case 'z':
        out += zoneName(zone, ms, n >= 4);
        break;
      case 'Z':
        out += n >= 3 ? zone : formatOffset(offset, n === 2);
        break;
      default:
        return { error: `Unsupported pattern letter '${t.letter}' (supported: ${FORMAT_LETTERS})` };
    }
  }
  return out;
}

export const PARSE_LETTERS = 'y u M L d D H k K h m s S a E X x Z z V';

interface Parsed {
  year: number;
  month: number;
  day: number;
  dayOfYear?: number;
  hour: number;
  minute: number;
  second: number;
  nanos: number;
  pm?: boolean;
  clockHour?: number;
  offsetMinutes?: number;
  zone?: string;
}

/** Parses `text` with a java.time DateTimeFormatter pattern into epoch milliseconds (UTC when no zone). */
export function parseJavaTime(text: string, pattern: string): number | { error: string } {
  const tokens = tokenize(pattern);
  const setters: ((p: Parsed, s: string) => string | undefined)[] = [];
  let source = '^';
  const num = (width: number, exact: boolean) => (exact ? `(\\d{${width}})` : `(\\d{1,${width}})`);
  for (const t of tokens) {
    if ('literal' in t) {
      source += t.literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      continue;
    }
    const n = t.count;
    switch (t.letter) {
      case 'y':
      case 'u':
        source += n === 2 ? '(\\d{2})' : n >= 4 ? '([+-]?\\d{4,9})' : '([+-]?\\d{1,9})';
        setters.push((p, s) => void (p.year = n === 2 ? 2000 + Number(s) : Number(s)));
        break;
      case 'M':
      case 'L':
        if (n >= 3) {
          source += n === 3 ? '([A-Za-z]{3})' : '([A-Za-z]+)';
          setters.push((p, s) => {
            const i = MONTHS.findIndex((m) => (n === 3 ? m.slice(0, 3) : m).toLowerCase() === s.toLowerCase());
            if (i < 0) return `Unknown month name ${JSON.stringify(s)}`;
            p.month = i + 1;
            return undefined;
          });
        } else {
          source += num(2, n === 2);
          setters.push((p, s) => void (p.month = Number(s)));
        }
        break;
      case 'd':
        source += num(2, n === 2);
        setters.push((p, s) => void (p.day = Number(s)));
        break;
      case 'D':
        source += num(3, n === 3);
        setters.push((p, s) => void (p.dayOfYear = Number(s)));
        break;
      case 'H':
      case 'k':
        source += num(2, n === 2);
        setters.push((p, s) => void (p.hour = t.letter === 'k' && Number(s) === 24 ? 0 : Number(s)));
        break;
      case 'K':
      case 'h':
        source += num(2, n === 2);
        setters.push((p, s) => void (p.clockHour = t.letter === 'h' && Number(s) === 12 ? 0 : Number(s)));
        break;
      case 'm':
        source += num(2, n === 2);
        setters.push((p, s) => void (p.minute = Number(s)));
        break;
      case 's':
        source += num(2, n === 2);
        setters.push((p, s) => void (p.second = Number(s)));
        break;
      case 'S':
        source += `(\\d{${n}})`;
        setters.push((p, s) => void (p.nanos = Number(s.padEnd(9, '0').slice(0, 9))));
        break;
      case 'a':
        source += '([AaPp][Mm])';
        setters.push((p, s) => void (p.pm = s.toUpperCase() === 'PM'));
        break;
      case 'E':
        source += '([A-Za-z]+)';
        setters.push((_p, s) =>
          DAYS.some((d) => d.toLowerCase() === s.toLowerCase() || d.slice(0, 3).toLowerCase() === s.toLowerCase())
            ? undefined
            : `Unknown day name ${JSON.stringify(s)}`,
        );
        break;
      case 'X':
      case 'x':
      case 'Z':
        source += '(Z|[+-]\\d{2}(?::?\\d{2})?)';
        setters.push((p, s) => {
          if (s === 'Z') p.offsetMinutes = 0;
          else {
            const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(s)!;
            const minutes = Number(m[2]) * 60 + Number(m[3] ?? 0);
            p.offsetMinutes = m[1] === '-' ? -minutes : minutes;
          }
          return undefined;
        });
        break;
      case 'z':
      case 'V':
        source += '([A-Za-z_]+(?:/[A-Za-z_]+)*|[A-Z]{1,5}[+-]\\d{1,2}(?::\\d{2})?)';
        setters.push((p, s) => void (p.zone = s));
        break;
      default:
        return { error: `Unsupported pattern letter '${t.letter}' (supported: ${PARSE_LETTERS})` };
    }
  }
  const m = new RegExp(`${source}$`).exec(text);
  if (!m) return { error: `Text ${JSON.stringify(text)} could not be parsed with pattern ${JSON.stringify(pattern)}` };
  const p: Parsed = { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, nanos: 0 };
  for (let i = 0; i < setters.length; i++) {
    const problem = setters[i]!(p, m[i + 1]!);
    if (problem) return { error: problem };
  }
  if (p.clockHour !== undefined) p.hour = p.clockHour + (p.pm ? 12 : 0);
  else if (p.pm !== undefined && p.pm && p.hour < 12) p.hour += 12;
  if (p.dayOfYear !== undefined) {
    const date = new Date(Date.UTC(p.year, 0, p.dayOfYear));
    p.month = date.getUTCMonth() + 1;
    p.day = date.getUTCDate();
  }
  if (p.month < 1 || p.month > 12 || p.day < 1 || p.day > 31 || p.hour > 23 || p.minute > 59 || p.second > 59) {
    return { error: `Text ${JSON.stringify(text)} has a field out of range` };
  }
  const daysInMonth = new Date(Date.UTC(p.year, p.month, 0)).getUTCDate();
  if (p.day > daysInMonth) return { error: `Invalid date: day ${p.day} of month ${p.month} in ${p.year}` };
  const date = new Date(0);
  date.setUTCFullYear(p.year, p.month - 1, p.day);
  date.setUTCHours(p.hour, p.minute, p.second, Math.floor(p.nanos / 1e6));
  const local = date.getTime();
  if (p.offsetMinutes !== undefined) return local - p.offsetMinutes * 60_000;
  if (p.zone !== undefined) {
    // Two passes find the offset in force at the local time (exact except inside DST gaps).
    let offset = zoneOffsetMinutes(p.zone, local);
    if (offset === undefined) return { error: `Unknown time zone ${JSON.stringify(p.zone)}` };
    offset = zoneOffsetMinutes(p.zone, local - offset * 60_000) ?? offset;
    return local - offset * 60_000;
  }
  return local;
}

function timeError(ctx: EvalContext, fn: string, result: { error: string }): undefined {
  return fail(ctx, fn, result.error);
}

export const timeFunctions: FunctionTable = {
  parse_time: {
    min: 2,
    max: 3,
    since: V16,
    fn: (args, ctx) => {
      const pattern = toStringValue(args[0]);
      const ms = toDecimal(args[1]);
      const zone = args.length > 2 ? toStringValue(args[2]) : 'UTC';
      if (pattern === undefined || typeof ms !== 'number' || !Number.isFinite(ms) || zone === undefined) return undefined;
      const r = formatJoda(pattern, Math.trunc(ms), zone);
      return typeof r === 'string' ? r : timeError(ctx, 'parse_time', r);
    },
  },
  time_to_epoch: {
    min: 2,
    max: 2,
    since: V16,
    fn: (args, ctx) => {
      const text = toStringValue(args[0]);
      const pattern = toStringValue(args[1]);
      if (text === undefined || pattern === undefined) return undefined;
      const r = parseJavaTime(text, pattern);
      return typeof r === 'number' ? r : timeError(ctx, 'time_to_epoch', r);
    },
  },
};
