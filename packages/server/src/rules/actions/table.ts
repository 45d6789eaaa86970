/**
 * The table actions: AWS's `dynamoDBv2` and `timestream` shapes, writing one row per message into
 * Thicket's rule tables (telemetry/): the embedded SQLite databases, or a PostgreSQL database the
 * operator configured under `rules.databases.<name>`.
 *
 * - dynamoDBv2 {roleArn, putItem{tableName}}: a column per top-level key of the SELECT output, into
 *   the `default` database, or into configured database `<db>` when tableName is `<db>.<table>`.
 * - timestream {roleArn, databaseName, tableName, dimensions[{name, value}], timestamp{value, unit}}:
 *   the dimensions as text columns and every other top-level key as a measure column, into the
 *   database `databaseName` (a configured PostgreSQL database, else an embedded one of that name).
 *
 * Every row also has `time` (epoch ms: the message's, or timestream's `timestamp`) and `topic`.
 */
import type { CompiledTemplate } from '@thicket/iot-sql';
import { invalidRequest } from '../../aws/errors.js';
import { DEFAULT_DATABASE, type TableWriter } from '../../telemetry/index.js';
import { columnName, identifier, TABLE_NAME, TIMESTREAM_NAME } from '../../telemetry/names.js';
import type { TableRow } from '../../telemetry/values.js';
import {
  ActionError,
  nested,
  oneOf,
  optionalList,
  optionalObject,
  requiredString,
  violation,
  type ActionBuild,
  type ActionKind,
  type ActionMessage,
} from './types.js';

const UNITS = ['SECONDS', 'MILLISECONDS', 'MICROSECONDS', 'NANOSECONDS'] as const;
const UNIT_MS: Record<(typeof UNITS)[number], number> = { SECONDS: 1000, MILLISECONDS: 1, MICROSECONDS: 1e-3, NANOSECONDS: 1e-6 };

function writer(b: ActionBuild): TableWriter {
  const w = b.services.tables;
  if (!w) throw invalidRequest(`${b.path}: rule tables are not available on this server`);
  return w;
}

/** The rule's output as the columns of a row; fails unless it is a JSON object. */
function outputColumns(m: ActionMessage, resource: string): Map<string, unknown> {
  const out = m.result?.output;
  if (m.result?.kind !== 'object' || out === null || typeof out !== 'object' || Array.isArray(out))
    throw new ActionError('The rule output is not a JSON object, so it has no columns to write', resource);
  const values = new Map<string, unknown>();
  for (const [k, v] of Object.entries(out as Record<string, unknown>)) {
    values.set(columnName(k), typeof v === 'number' && !Number.isFinite(v) ? null : v);
  }
  return values;
}

function write(w: TableWriter, m: ActionMessage, database: string, table: string, row: TableRow, resource: string): void | Promise<void> {
  let out: void | Promise<void>;
  try {
    out = w.write(m.ns, database, table, row);
  } catch (err) {
    throw new ActionError((err as Error).message, resource);
  }
  if (out instanceof Promise) return out.catch((err: Error) => Promise.reject(new ActionError(err.message, resource)));
}

export const dynamoDBv2: ActionKind = {
  key: 'dynamoDBv2',
  awsName: 'DynamoDBv2Action',
  build(b) {
    requiredString(b, 'roleArn');
    const put = optionalObject(b, 'putItem');
    if (!put) violation(`${b.path}.putItem`, undefined, 'Member must not be null');
    const pb = nested(b, 'putItem', put);
    const text = requiredString(pb, 'tableName', 255);
    const tableName = b.template(text, 'putItem.tableName');
    const w = writer(b);
    if (!text.includes('${')) {
      if (!TABLE_NAME.test(text))
        violation(`${pb.path}.tableName`, text, 'Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]{3,255}');
      const refused = w.refusal(b.ns, target(w, text).database);
      if (refused) throw invalidRequest(`${pb.path}.tableName: ${refused}`);
    }
    return {
      resource: text,
      run(m: ActionMessage) {
        const rendered = m.render(tableName);
        const go = (name: string): void | Promise<void> => {
          if (!TABLE_NAME.test(name))
            throw new ActionError(`The table name '${name.slice(0, 300)}' is not 3 to 255 letters, digits, '_', '-' and '.'`, name);
          const t = target(w, name);
          const refused = w.refusal(m.ns, t.database);
          if (refused) throw new ActionError(refused, name);
          const row: TableRow = { time: m.message.timestamp ?? Date.now(), topic: m.publishedTopic, values: outputColumns(m, name) };
          return write(w, m, t.database, t.table, row, name);
        };
        return typeof rendered === 'string' ? go(rendered) : rendered.then(go);
      },
    };
  },
};

/** `<db>.<table>` names a configured database; any other name is a table of the default database. */
function target(w: TableWriter, name: string): { database: string; table: string } {
  const dot = name.indexOf('.');
  if (dot > 0 && w.configured(name.slice(0, dot))) return { database: name.slice(0, dot), table: identifier(name.slice(dot + 1)) };
  return { database: DEFAULT_DATABASE, table: identifier(name) };
}

interface Dimension {
  column: string;
  value: CompiledTemplate;
}

export const timestream: ActionKind = {
  key: 'timestream',
  awsName: 'TimestreamAction',
  build(b) {
    requiredString(b, 'roleArn');
    const database = requiredString(b, 'databaseName', 256);
    if (!TIMESTREAM_NAME.test(database))
      violation(`${b.path}.databaseName`, database, 'Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]{3,256}');
    const tableText = requiredString(b, 'tableName', 256);
    if (!TIMESTREAM_NAME.test(tableText))
      violation(`${b.path}.tableName`, tableText, 'Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]{3,256}');
    const w = writer(b);
    const refused = w.refusal(b.ns, database);
    if (refused) throw invalidRequest(`${b.path}.databaseName: ${refused}`);
    const list = optionalList(b, 'dimensions', 128);
    if (!list) violation(`${b.path}.dimensions`, undefined, 'Member must not be null');
    if (list.length === 0) violation(`${b.path}.dimensions`, list, 'Member must have length greater than or equal to 1');
    const dimensions: Dimension[] = list.map((d, i) => {
      const db = nested(b, `dimensions.${i + 1}.member`, (d ?? {}) as Record<string, unknown>);
      const name = requiredString(db, 'name', 60);
      return { column: columnName(name), value: b.template(requiredString(db, 'value', 2048), `dimensions.${i + 1}.value`) };
    });
    const ts = optionalObject(b, 'timestamp');
    let stamp: { value: CompiledTemplate; unit: CompiledTemplate } | undefined;
    if (ts) {
      const tb = nested(b, 'timestamp', ts);
      const unitText = requiredString(tb, 'unit', 64);
      if (!unitText.includes('${')) oneOf(tb, 'unit', UNITS);
      stamp = { value: b.template(requiredString(tb, 'value'), 'timestamp.value'), unit: b.template(unitText, 'timestamp.unit') };
    }
    const table = identifier(tableText);
    const resource = `${database}.${tableText}`;
    return {
      resource,
      async run(m: ActionMessage) {
        const values = outputColumns(m, resource);
        for (const d of dimensions) values.set(d.column, await m.render(d.value));
        let time = m.message.timestamp ?? Date.now();
        if (stamp) {
          const v = await m.render(stamp.value);
          const unit = (await m.render(stamp.unit)) as (typeof UNITS)[number];
          if (!UNITS.includes(unit))
            throw new ActionError(`The timestamp unit '${unit.slice(0, 100)}' is not one of ${UNITS.join(', ')}`, resource);
          const n = Number(v);
          if (v.trim() === '' || !Number.isFinite(n)) throw new ActionError(`The timestamp '${v.slice(0, 100)}' is not a number`, resource);
          time = Math.round(n * UNIT_MS[unit]);
        }
        await write(w, m, database, table, { time, topic: m.publishedTopic, values }, resource);
      },
    };
  },
};
