/** Helpers of the rule-table tests: the data query API, and waiting for rows to arrive. */
import { adminRequest, type AccessKey } from '@thicket/server';

export interface QueryAnswer {
  database: string;
  columns: string[];
  rows: unknown[][];
  truncated: boolean;
}

export interface QueryTarget {
  endpoint: string;
  credentials: AccessKey;
  region?: string;
  headers?: Record<string, string>;
}

export function queryData(t: QueryTarget, body: Record<string, unknown>): Promise<QueryAnswer> {
  return adminRequest<QueryAnswer>({
    endpoint: t.endpoint,
    region: t.region ?? 'us-east-1',
    credentials: t.credentials,
    method: 'POST',
    path: '/_thicket/data/query',
    body,
    headers: t.headers,
  });
}

/** The query's error line (`Code: message`); fails when it succeeds. */
export async function queryError(t: QueryTarget, body: Record<string, unknown>): Promise<string> {
  try {
    await queryData(t, body);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`expected the query ${JSON.stringify(body)} to fail`);
}

/** Rows as objects keyed by column. */
export function objects(a: QueryAnswer): Record<string, unknown>[] {
  return a.rows.map((r) => Object.fromEntries(a.columns.map((c, i) => [c, r[i]])));
}

/** Polls `query` until it answers `count` rows (the action commits asynchronously). */
export async function waitForRows(
  t: QueryTarget,
  body: Record<string, unknown>,
  count: number,
  timeoutMs = 5000,
): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const a = await queryData(t, body);
      if (a.rows.length >= count) return objects(a);
      last = `${a.rows.length} rows`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`no ${count} rows within ${timeoutMs} ms (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
