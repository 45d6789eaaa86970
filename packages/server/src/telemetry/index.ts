/** Rule tables: the rows table actions write, their retention, and queries over them. */
export { Telemetry, DEFAULT_DATABASE, type TableWriter, type QueryRequest, type TableDescription } from './telemetry.js';
export { telemetryRoutes, QUERY_PATH, TABLES_PATH } from './routes.js';
export { DEFAULT_TABLE_SETTINGS, type TableSettings, type TableDatabaseSettings } from './settings.js';
export type { TableRow } from './values.js';
export type { QueryResult } from './embedded-query.js';
export { telemetryCapability } from './module.js';
