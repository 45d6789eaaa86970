/** Human-readable tables by default, the raw API response with --json. */

export type Row = Record<string, unknown>;

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function table(rows: readonly object[], columns: string[]): string {
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((r) => columns.map((c) => cell((r as Row)[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n') + '\n';
}

export function fields(value: object, names?: string[]): string {
  const obj = value as Row;
  const keys = names ?? Object.keys(obj).filter((k) => k !== '$metadata');
  const width = Math.max(...keys.map((k) => k.length));
  return keys.map((k) => `${k.padEnd(width)}  ${cell(obj[k])}`).join('\n') + '\n';
}

/** Prints `value` as JSON (without the SDK's $metadata) or with `human`. */
export function print(json: boolean | undefined, value: unknown, human: () => string): void {
  if (json) {
    const { $metadata: _m, ...rest } = (value ?? {}) as Row;
    process.stdout.write(JSON.stringify(rest, null, 2) + '\n');
  } else {
    process.stdout.write(human());
  }
}
