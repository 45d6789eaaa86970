/**
 * Long offline queues on PostgreSQL: past the memory window a persistent session's queue stays in
 * the database and comes back a page at a time in the background while the client takes what is
 * in memory; a session that ends or stops being persistent with most of its queue there leaves
 * nothing behind and loses nothing it should still deliver.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import mqtt, { type MqttClient } from 'mqtt';
import { PostgresStore, QUEUE_MEMORY_WINDOW } from '@thicket/broker';
import { TestBroker, uid, waitFor } from './helpers.js';
import { startPostgres, type Postgres } from '../../server/test/pg-helpers.js';

const N = 2500;

describe('offline queues on PostgreSQL', { timeout: 120_000 }, () => {
  let server: Postgres;
  let dbs = 0;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
  });

  async function rows(url: string): Promise<{ q: number; m: number }> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const r = await c.query('SELECT (SELECT count(*) FROM mqtt_queue)::int AS q, (SELECT count(*) FROM mqtt_messages)::int AS m');
      return r.rows[0] as { q: number; m: number };
    } finally {
      await c.end();
    }
  }

  /** A broker on a fresh database with `ids` persistent sessions subscribed to one topic, offline, and N messages queued for each. */
  async function queued(ids: string[]): Promise<{ tb: TestBroker; store: PostgresStore; url: string; topic: string }> {
    const url = await server.createDatabase(`paging_${++dbs}`);
    const store = await PostgresStore.open({ connectionString: url });
    const tb = await TestBroker.start({ store, maxInflight: 10 });
    const topic = `paged/${uid()}`;
    for (const id of ids) {
      const c = await tb.connect({ clientId: id, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } });
      await c.subscribeAsync(topic, { qos: 1 });
      await c.endAsync();
    }
    for (let i = 0; i < N; i++) tb.broker.publish({ topic, payload: String(i), qos: 1 });
    await tb.broker.whenDurable();
    return { tb, store, url, topic };
  }

  /** Every message taken and acknowledged (the last ones may still be in flight): no queue or message rows are left. */
  async function noRowsLeft(tb: TestBroker, store: PostgresStore, url: string): Promise<void> {
    const end = Date.now() + 10_000;
    for (;;) {
      await tb.broker.whenDurable();
      await waitFor(() => !store.pending, 'the writes stored');
      const left = await rows(url);
      if (left.q === 0 && left.m === 0) return;
      if (Date.now() > end) assert.deepEqual(left, { q: 0, m: 0 });
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  function receive(tb: TestBroker, clientId: string, opts: mqtt.IClientOptions): { client: MqttClient; payloads: string[] } {
    const payloads: string[] = [];
    const client = mqtt.connect(tb.url(), { clientId, protocolVersion: 5, reconnectPeriod: 0, ...opts });
    client.on('message', (_t, p) => payloads.push(p.toString()));
    tb.clients.add(client);
    return { client, payloads };
  }

  const inOrder = (payloads: string[], n: number): void =>
    assert.deepEqual(
      payloads.map(Number),
      Array.from({ length: n }, (_, i) => i),
    );

  test('a queue longer than the memory window is held in memory only up to it, and drains whole and in order', async () => {
    const id = uid('long');
    const { tb, store, url } = await queued([id]);
    try {
      const session = tb.broker.namespace('').sessions.get(id)!;
      assert.equal(session.queued, N);
      assert.equal(session.queuedInMemory, QUEUE_MEMORY_WINDOW, 'the rest stays in PostgreSQL');
      const { payloads } = receive(tb, id, { clean: false, properties: { sessionExpiryInterval: 3600 } });
      await waitFor(() => payloads.length >= N, 'every message', 20_000);
      inOrder(payloads, N);
      await noRowsLeft(tb, store, url);
    } finally {
      await tb.close();
      await store.close();
    }
  });

  test('a session ended with most of its queue in PostgreSQL releases it; messages shared with another session stay for it', async () => {
    const [gone, kept] = [uid('gone'), uid('kept')];
    const { tb, store, url } = await queued([gone, kept]);
    try {
      const c = await tb.connect({ clientId: gone, protocolVersion: 5, clean: true });
      await c.endAsync();
      await waitFor(() => tb.broker.sessionCount === 1, 'one session to end');
      await tb.broker.whenDurable();
      await waitFor(() => !store.pending, 'the deletes stored');
      assert.deepEqual(await rows(url), { q: N, m: N });
      const { payloads } = receive(tb, kept, { clean: false, properties: { sessionExpiryInterval: 3600 } });
      await waitFor(() => payloads.length >= N, 'the kept session to receive everything', 20_000);
      inOrder(payloads, N);
      await noRowsLeft(tb, store, url);
    } finally {
      await tb.close();
      await store.close();
    }
  });

  test('a session resumed without expiry gets its whole queue, then what arrived meanwhile, and its rows go', async () => {
    const id = uid('forget');
    const { tb, store, url, topic } = await queued([id]);
    try {
      // Session expiry 0 on a stored session: it lives on in memory only, for this connection.
      const { client, payloads } = receive(tb, id, { clean: false, properties: { sessionExpiryInterval: 0 } });
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      for (let i = N; i < N + 100; i++) tb.broker.publish({ topic, payload: String(i), qos: 1 });
      await waitFor(() => payloads.length >= N + 100, 'every message', 20_000);
      inOrder(payloads, N + 100);
      await noRowsLeft(tb, store, url);
    } finally {
      await tb.close();
      await store.close();
    }
  });
});
