/**
 * Prometheus metrics. The broker counts in plain numbers on its hot path; these collectors read
 * them when /metrics is scraped.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Broker } from '@thicket/broker';

const QOS = ['0', '1', '2'] as const;

/** A counter whose value is read from elsewhere at scrape time. */
function mirroredCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => Array<[Record<string, string>, number]>,
): void {
  const last = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const [labels, value] of read()) {
        const k = JSON.stringify(labels);
        const delta = value - (last.get(k) ?? 0);
        if (delta > 0) this.inc(labels, delta);
        else if (!last.has(k)) this.inc(labels, 0);
        last.set(k, value);
      }
    },
  });
}

export function createMetrics(broker: Broker): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'thicket_' });
  const s = broker.stats;
  const byQos = (arr: number[]) => (): Array<[Record<string, string>, number]> => QOS.map((q, i) => [{ qos: q }, arr[i]!]);

  new Gauge({
    name: 'thicket_mqtt_connections',
    help: 'MQTT connections that completed CONNECT',
    registers: [registry],
    collect() {
      this.set(broker.openConnections);
    },
  });
  new Gauge({
    name: 'thicket_mqtt_sessions',
    help: 'MQTT sessions, connected or not',
    registers: [registry],
    collect() {
      this.set(broker.sessionCount);
    },
  });
  new Gauge({
    name: 'thicket_mqtt_messages_queued',
    help: 'QoS 1/2 messages waiting in sessions for delivery',
    registers: [registry],
    collect() {
      this.set(broker.queuedCount);
    },
  });
  new Gauge({
    name: 'thicket_mqtt_messages_queued_bytes',
    help: 'Bytes (payload + topic) of the QoS 1/2 messages waiting in sessions, in memory or on disk',
    registers: [registry],
    collect() {
      this.set(broker.queuedBytes);
    },
  });
  new Gauge({
    name: 'thicket_mqtt_retained_messages',
    help: 'Retained messages',
    registers: [registry],
    collect() {
      this.set(broker.retainedCount);
    },
  });
  mirroredCounter(registry, 'thicket_mqtt_connections_accepted_total', 'Connections accepted', [], () => [[{}, s.connectionsAccepted]]);
  mirroredCounter(registry, 'thicket_mqtt_connections_refused_total', 'Connections refused at CONNECT', [], () => [
    [{}, s.connectionsRefused],
  ]);
  mirroredCounter(registry, 'thicket_mqtt_messages_received_total', 'PUBLISH packets received from clients', ['qos'], byQos(s.messagesIn));
  mirroredCounter(registry, 'thicket_mqtt_messages_sent_total', 'PUBLISH packets sent to clients', ['qos'], byQos(s.messagesOut));
  mirroredCounter(registry, 'thicket_mqtt_received_bytes_total', 'Bytes of PUBLISH packets received', ['qos'], byQos(s.bytesIn));
  mirroredCounter(registry, 'thicket_mqtt_sent_bytes_total', 'Bytes of PUBLISH packets sent', ['qos'], byQos(s.bytesOut));
  mirroredCounter(registry, 'thicket_mqtt_messages_dropped_total', 'Messages not delivered to a session, by reason', ['reason'], () =>
    Object.entries(s.dropped).map(([reason, n]) => [{ reason }, n]),
  );
  mirroredCounter(registry, 'thicket_mqtt_protocol_errors_total', 'Bad input from clients, by kind', ['kind'], () =>
    Object.entries(s.protocolErrors).map(([kind, n]) => [{ kind }, n]),
  );
  return registry;
}
