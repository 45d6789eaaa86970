/**
 * Column types and how a value of the rule's output is stored in a column. A column takes the type
 * of the first value it gets; later values are converted to it when that loses nothing (a number
 * from "21.5", text from anything), and a value that cannot be (the text "warm" into a number
 * column) fails the row, so the error action sees it instead of the table holding a silent NULL.
 */
export type ColumnType = 'number' | 'text' | 'boolean' | 'json';

/** The type a new column gets from its first value; undefined for null (no column is made for it). */
export function typeOf(value: unknown): ColumnType | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'number') return 'number';
  if (typeof value === 'string') return 'text';
  if (typeof value === 'boolean') return 'boolean';
  return 'json';
}

/** A stored value: numbers, strings, booleans (PostgreSQL) or JSON text; throws a sentence naming the problem. */
export function convert(value: unknown, type: ColumnType): number | string | boolean | null {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'number':
      if (typeof value === 'number') return value;
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
      throw new Error(`holds numbers, and ${describe(value)} is not one`);
    case 'text':
      return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 0 || value === 1) return value === 1;
      if (value === 'true' || value === 'false') return value === 'true';
      throw new Error(`holds booleans, and ${describe(value)} is not one`);
    case 'json':
      return JSON.stringify(value);
  }
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** One row to write: the message time in epoch milliseconds, its topic, and the values by column name. */
export interface TableRow {
  time: number;
  topic: string;
  values: Map<string, unknown>;
}
