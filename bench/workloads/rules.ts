/**
 * Topic rules for the fan-in scenario: `count` rules on the published topics, each with a republish
 * (to a topic nobody subscribes to) and a table action, created through the control-plane API; the
 * engine's counters are read from /metrics.
 */
import { readFileSync } from 'node:fs';
import { CreateTopicRuleCommand, IoTClient } from '@aws-sdk/client-iot';
import { parseCredentialsFile } from '@thicket/server';
import type { Endpoint } from '../clients.js';

export interface RulesHandle {
  /** Rule evaluations so far (the engine's evaluation histogram count over every rule). */
  evaluations(): Promise<number>;
  /** Messages the engine dropped and actions that failed so far. */
  problems(): Promise<{ dropped: number; actionsFailed: number }>;
}

/** Sums every sample of a metric family (optionally only lines containing `filter`) in Prometheus text. */
function sum(text: string, name: string, filter = ''): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (filter && !line.includes(filter))) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

export async function setUpRules(
  to: Endpoint,
  api: { httpPort: number; credentialsFile: string },
  count: number,
  filter = 'bench/+/x',
): Promise<RulesHandle> {
  const credentials = parseCredentialsFile(readFileSync(api.credentialsFile, 'utf8'), 'default');
  if (!credentials) throw new Error(`no default profile in ${api.credentialsFile}`);
  const iot = new IoTClient({ endpoint: `http://${to.host}:${api.httpPort}`, region: 'us-east-1', credentials });
  try {
    for (let i = 0; i < count; i++) {
      await iot.send(
        new CreateTopicRuleCommand({
          ruleName: `bench_${i}`,
          topicRulePayload: {
            sql: `SELECT topic(2) AS publisher, timestamp() AS at, ${i} AS rule FROM '${filter}'`,
            awsIotSqlVersion: '2016-03-23',
            actions: [
              { republish: { roleArn: 'arn:aws:iam::123456789012:role/bench', topic: `bench-rules/${i}/\${topic(2)}`, qos: 0 } },
              { dynamoDBv2: { roleArn: 'arn:aws:iam::123456789012:role/bench', putItem: { tableName: `bench_${i}` } } },
            ],
          },
        }),
      );
    }
  } finally {
    iot.destroy();
  }
  const metrics = async (): Promise<string> => (await fetch(`http://${to.host}:${api.httpPort}/metrics`)).text();
  return {
    async evaluations() {
      return sum(await metrics(), 'thicket_rules_evaluation_seconds_count');
    },
    async problems() {
      const text = await metrics();
      return {
        dropped: sum(text, 'thicket_rules_messages_dropped_total'),
        actionsFailed: sum(text, 'thicket_rules_actions_total', 'outcome="failure"'),
      };
    },
  };
}
