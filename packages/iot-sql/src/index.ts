/**
 * @thicket/iot-sql: the AWS IoT SQL language of the rules engine, pure logic shared by the cloud
 * and the edge. Parse once, evaluate many times:
 *
 *   const stmt = compile("SELECT temperature, topic(2) AS id FROM 'dt/+/temp' WHERE temperature > 30",
 *                        { version: '2016-03-23', host });
 *   stmt.from                              // 'dt/+/temp' (undefined when there is no FROM)
 *   const r = await stmt.evaluate({ topic: 'dt/d1/temp', payload: '{"temperature":31}' });
 *   r.matched, r.kind, r.output, r.binary, r.errors, r.variables
 *   stmt.template('${topic(2)}/alerts').render(message, r.variables)   // substitution templates
 *   outputBytes(r)                         // what actions receive: JSON text, raw bytes or ''
 *
 * compile() throws SqlParseError (errorName 'SqlParseException', position, expected) for text that
 * does not parse and for what can be rejected before a message arrives (unknown function, wrong
 * arity, a 2016-03-23 feature in 2015-10-08, undefined SET variable). Runtime problems never throw:
 * they evaluate to Undefined and are listed in `errors`. See README.md for what differs from AWS.
 */
export { compile, compileTemplate, CompiledStatement, CompiledTemplate, DEFAULT_SQL_VERSION, isSqlVersion } from './statement.js';
export type { CompileOptions, SqlVersion } from './statement.js';
export { SqlParseError } from './errors.js';
export type { SqlFunctionError, SqlPosition } from './errors.js';
export type { EvaluationResult, MqttProperties, SqlHost, SqlMessage } from './types.js';
export { topicMatches } from './topic-filter.js';
export { outputBytes } from './output.js';
export { FUNCTIONS } from './functions/index.js';
