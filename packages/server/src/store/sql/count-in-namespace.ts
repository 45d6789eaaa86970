/** How many rows of a table belong to a namespace, as the database says (limits checked before an insert). */
import type { Namespace } from '../../accounts/namespace.js';
import type { SqlEngine } from './engine.js';

export async function countInNamespace(sql: SqlEngine, table: string, ns: Namespace): Promise<number> {
  const r = await sql.first<{ n: number | string }>(
    sql.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll().as('n'))
      .where('account_id', '=', ns.accountId)
      .where('region', '=', ns.region),
  );
  // PostgreSQL's count is a bigint, which pg hands over as a string.
  return Number(r?.n ?? 0);
}
