/**
 * Thicket's data API: `POST /_thicket/data/query` {query, database?, limit?, timeoutSeconds?} runs a read-only SQL
 * query over the caller's own rule tables (SigV4 like the other `/_thicket` APIs; a read-only key
 * may call it) and answers {database, columns, rows, truncated}; `POST /_thicket/data/tables`
 * {database?} lists the caller's tables and their columns.
 */
import type { ApiRoute } from '../api/aws-api.js';
import type { Telemetry } from './telemetry.js';

export const QUERY_PATH = '/_thicket/data/query';
export const TABLES_PATH = '/_thicket/data/tables';

export function telemetryRoutes(t: Telemetry): ApiRoute[] {
  return [
    {
      method: 'POST',
      path: QUERY_PATH,
      service: 'iot',
      operation: 'QueryData',
      readOnly: true,
      handler: (r) => t.query(r.ctx.ns, r.body),
    },
    {
      method: 'POST',
      path: TABLES_PATH,
      service: 'iot',
      operation: 'ListDataTables',
      readOnly: true,
      handler: (r) => t.tables(r.ctx.ns, r.body),
    },
  ];
}
