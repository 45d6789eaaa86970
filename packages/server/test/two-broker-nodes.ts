/**
 * Two brokers on loopback linked over a real nats-server (NatsLink), with mqtt.js clients on either:
 * the harness of the cluster routing and takeover tests.
 */
import type net from 'node:net';
import { Broker, listenTcp, type BrokerStore } from '@thicket/broker';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { NatsLink } from '../src/cluster/nats-link.js';
import { settleNodes, startNats, type NatsServer } from './nats-helpers.js';

export interface BrokerNode {
  broker: Broker;
  link: NatsLink;
  server: net.Server;
  port: number;
}

export interface TwoNodes {
  nats: NatsServer;
  a: BrokerNode;
  b: BrokerNode;
  /** An MQTT 5 client on `node` (closed by `close`). */
  client(node: BrokerNode, opts?: IClientOptions): Promise<MqttClient>;
  /** Resolves once each node has heard the other's subscriptions made before the call (settleNodes). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export interface TwoNodesOptions {
  /** NATS's max_payload, so a test can publish what NATS refuses. */
  maxPayload?: number;
  /** Node A's broker store (a memory store otherwise). */
  storeA?: BrokerStore;
  /** How long a node waits for another's confirmation that it stored a message. */
  confirmTimeoutMs?: number;
}

export async function startTwoNodes(opts: TwoNodesOptions = {}): Promise<TwoNodes> {
  const nats = await startNats({ maxPayload: opts.maxPayload });
  const startNode = async (nodeId: string, store?: BrokerStore): Promise<BrokerNode> => {
    const broker = new Broker({ store });
    const { server, port } = await listenTcp(broker, { host: '127.0.0.1', port: 0 });
    const link = await NatsLink.connect(broker, {
      servers: nats.url,
      nodeId,
      log: pino({ level: 'silent' }),
      confirmTimeoutMs: opts.confirmTimeoutMs,
    });
    return { broker, link, server, port };
  };
  const a = await startNode('a', opts.storeA);
  const b = await startNode('b');
  const clients: MqttClient[] = [];
  return {
    nats,
    a,
    b,
    async client(node, clientOpts = {}) {
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${node.port}`, { reconnectPeriod: 0, protocolVersion: 5, ...clientOpts });
      clients.push(c);
      return c;
    },
    settled: () => settleNodes([a.link, b.link]),
    async close() {
      for (const c of clients) await c.endAsync(true).catch(() => {});
      for (const n of [a, b]) {
        await n.link.close();
        n.server.close();
        n.broker.close();
      }
      await nats.close();
    },
  };
}

/** Collects the payloads a client receives on topics `match` accepts. */
export function collect(c: MqttClient, match: (topic: string) => boolean = () => true): { topic: string; payload: string }[] {
  const got: { topic: string; payload: string }[] = [];
  c.on('message', (topic, payload) => {
    if (match(topic)) got.push({ topic, payload: payload.toString() });
  });
  return got;
}

export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
