/**
 * The PostgreSQL broker store on a throwaway PostgreSQL 15: every operation round-trips through
 * close and reopen (checked against MemoryStore on random operation sequences, the SQLite store
 * alongside), group commit and afterCommit order (transactions counted by PostgreSQL's transaction
 * ids), paging, adopting another node's session, clear, a broker restart with a persistent QoS 1 session, and the
 * database stopped under writes and started again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import pg from 'pg';
import type { IPublishPacket } from 'mqtt-packet';
import { PostgresStore, SqliteStore, type BrokerLogger, type StoredMessage, type StoredQueueEntry } from '@thicket/broker';
import { publish, sleep, tempDir, TestBroker, uid, waitFor, withTimeout } from './helpers.js';
import { apply, durable, normalized, op, T0 } from './store-model.js';
import { ROLE_PASSWORD, startPostgres, type Postgres } from '../../server/test/pg-helpers.js';

function message(id: number, extra: Partial<StoredMessage> = {}): StoredMessage {
  return {
    id,
    topic: `t/${id}`,
    payload: Buffer.from(`m${id}`),
    qos: 1,
    retain: false,
    properties: {},
    createdAt: T0 + id,
    expiresAt: 0,
    ...extra,
  };
}

function entry(clientId: string, seq: number, messageId = seq, extra: Partial<StoredQueueEntry> = {}): StoredQueueEntry {
  return { mount: 'acct/eu', clientId, seq, messageId, qos: 1, retain: false, subscriptionIds: null, packetId: 0, state: 0, ...extra };
}

describe('PostgresStore', { timeout: 120_000 }, () => {
  let server: Postgres;
  let dbs = 0;
  const freshDb = (): Promise<string> => server.createDatabase(`broker_${++dbs}`);
  /** A query on the database behind `url` as its owner, outside any store. */
  async function sql(url: string, text: string, values: unknown[] = []): Promise<Array<Record<string, unknown>>> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query({ text, values })).rows as Array<Record<string, unknown>>;
    } finally {
      await c.end();
    }
  }
  /** The cluster's next transaction id: write transactions between two readings = difference - 1 (the reading takes one). */
  const txid = async (url: string): Promise<number> => Number((await sql(url, 'SELECT txid_current()::text AS x'))[0]!.x);

  before(async () => {
    server = await startPostgres({ autovacuum: false });
  });
  after(async () => {
    await server?.stop();
  });

  test('every operation round-trips through close and reopen, as MemoryStore holds it (random sequences)', async () => {
    const url = await freshDb();
    let store = await PostgresStore.open({ connectionString: url });
    store.load();
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
          store.clear();
          const expected = await apply(store, ops);
          await store.close();
          store = await PostgresStore.open({ connectionString: url });
          assert.deepStrictEqual(normalized(store.load()), normalized(expected), ops.map((o) => o.name).join(' '));
        }),
        { numRuns: 40 },
      );
    } finally {
      await store.close();
    }
  });

  test('the SQLite store passes the same round trip (shared row mapping)', async () => {
    const tmp = tempDir();
    const file = join(tmp.dir, 'rt.db');
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
          let store = new SqliteStore(file);
          store.clear();
          const expected = await apply(store, ops);
          store.close();
          store = new SqliteStore(file);
          assert.deepStrictEqual(normalized(store.load()), normalized(expected), ops.map((o) => o.name).join(' '));
          store.close();
        }),
        { numRuns: 60 },
      );
    } finally {
      tmp.remove();
    }
  });

  test('group commit: many writes over a few turns take a few transactions; callbacks run in order, after COMMIT', async () => {
    const url = await freshDb();
    const store = await PostgresStore.open({ connectionString: url });
    try {
      const turns = 20;
      const perTurn = 100;
      const x0 = await txid(url);
      const commits0 = store.stats.commits;
      const order: number[] = [];
      const visible: Array<Promise<boolean>> = [];
      for (let t = 0; t < turns; t++) {
        for (let i = 0; i < perTurn; i++) {
          const id = t * perTurn + i + 1;
          const committedBefore = store.stats.commits;
          store.putMessage(message(id));
          store.putQueueEntry(entry('g', id));
          store.afterCommit(() => {
            assert.ok(store.stats.commits > committedBefore, `callback ${id} ran after a commit`);
            order.push(id);
            if (id % 250 === 0) visible.push(sql(url, 'SELECT 1 FROM mqtt_queue WHERE seq = $1', [id]).then((r) => r.length === 1));
          });
        }
        await new Promise((r) => setImmediate(r));
      }
      await durable(store);
      const transactions = (await txid(url)) - x0 - 1;
      const commits = store.stats.commits - commits0;
      console.log(
        `group commit: ${turns * perTurn * 2} writes in ${turns} turns -> ${commits} commits (${transactions} transactions by txid)`,
      );
      assert.equal(transactions, commits);
      assert.ok(commits >= 1 && commits <= turns, `${commits} commits`);
      assert.deepEqual(
        order,
        Array.from({ length: turns * perTurn }, (_, i) => i + 1),
      );
      assert.deepEqual(await Promise.all(visible), Array(visible.length).fill(true) as boolean[]);

      // Writes in one turn: one transaction, whatever their number.
      const x1 = await txid(url);
      for (let id = 1; id <= 2000; id++) store.deleteQueueEntry('acct/eu', 'g', id);
      for (let id = 1; id <= 2000; id++) store.deleteMessage(id);
      await durable(store);
      assert.equal((await txid(url)) - x1 - 1, 1, '4000 deletes in one turn: one transaction');
      assert.deepEqual(await sql(url, 'SELECT count(*)::int AS n FROM mqtt_messages'), [{ n: 0 }]);

      // A steady stream (10 writes every millisecond for 200 turns): at most one commit per turn, fewer when commits take longer.
      const x2 = await txid(url);
      const c2 = store.stats.commits;
      let acked = 0;
      for (let t = 0; t < 200; t++) {
        for (let i = 0; i < 10; i++) store.putMessage(message(10_000 + t * 10 + i));
        store.afterCommit(() => acked++);
        await sleep(1);
      }
      await durable(store);
      const streamCommits = store.stats.commits - c2;
      console.log(`steady stream: 2000 writes in 200 turns 1 ms apart -> ${streamCommits} commits (${(await txid(url)) - x2 - 1} by txid)`);
      assert.equal(acked, 200);
      assert.ok(streamCommits <= 201, `${streamCommits} commits`);
    } finally {
      await store.close();
    }
  });

  test('commitDelayMs gathers writes of many turns; writes issued while a commit is in flight form the next batch', async () => {
    const url = await freshDb();
    const store = await PostgresStore.open({ connectionString: url, commitDelayMs: 40 });
    try {
      const c0 = store.stats.commits;
      const order: string[] = [];
      for (let t = 0; t < 10; t++) {
        store.putMessage(message(t + 1));
        store.afterCommit(() => order.push(`a${t}`));
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(store.stats.commits, c0, 'nothing committed before the delay');
      await waitFor(() => order.length === 10, 'first batch');
      assert.equal(store.stats.commits - c0, 1, 'ten turns within the delay: one commit');

      // A batch in flight, more writes behind it: two commits, in order.
      store.putMessage(message(100));
      store.afterCommit(() => order.push('b'));
      store.flush();
      assert.ok(store.pending);
      store.putMessage(message(101));
      store.afterCommit(() => order.push('c'));
      store.flush(); // the next batch starts as soon as the one in flight is done
      await durable(store);
      assert.equal(store.stats.commits - c0, 3);
      assert.deepEqual(order.slice(10), ['b', 'c']);
      assert.equal(store.pending, false);
      // Nothing pending: the callback still runs, asynchronously.
      let ran = false;
      store.afterCommit(() => (ran = true));
      assert.equal(ran, false);
      await Promise.resolve();
      assert.equal(ran, true);
    } finally {
      await store.close();
    }
  });

  test('pageQueueAsync reads pending writes too, in seq order after the seq given', async () => {
    const url = await freshDb();
    const store = await PostgresStore.open({ connectionString: url });
    try {
      store.putSession({ mount: 'acct/eu', clientId: 'p', protocolVersion: 5, expiryInterval: 3600, disconnectedAt: T0 });
      const sub = { key: 'x/#', qos: 1 as const, noLocal: true, retainAsPublished: false, retainHandling: 2 as const, subscriptionId: 5 };
      store.putSubscription('acct/eu', 'p', sub);
      store.putInboundQos2('acct/eu', 'p', 12);
      for (let seq = 1; seq <= 10; seq++) {
        store.putMessage(message(seq, { properties: { userProperties: [['n', String(seq)]] } }));
        store.putQueueEntry(entry('p', seq, seq, seq <= 2 ? { packetId: seq, state: 1 } : { subscriptionIds: [5] }));
        store.putQueueEntry(entry('other', seq)); // another session's queue is not read
      }
      // Not committed yet: the reads wait for it.
      assert.ok(store.pending);
      const page = await store.pageQueueAsync('acct/eu', 'p', 3, 4);
      assert.deepEqual(
        page.map((i) => i.entry.seq),
        [4, 5, 6, 7],
      );
      assert.deepEqual(page[0], {
        entry: entry('p', 4, 4, { subscriptionIds: [5] }),
        message: message(4, { properties: { userProperties: [['n', '4']] } }),
      });
      assert.deepEqual(await store.pageQueueAsync('acct/eu', 'p', 10, 4), []);

      await store.close();
    } finally {
      await store.close();
    }
  });

  test('cluster: each node loads only its own sessions; another node adopts a session with its queue under new message ids', async () => {
    const url = await freshDb();
    const a = await PostgresStore.open({ connectionString: url, node: 'a' });
    const sub = {
      key: 'x/#',
      qos: 1 as const,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0 as const,
      subscriptionId: undefined,
    };
    a.putSession({ mount: 'acct/eu', clientId: 'p', protocolVersion: 5, expiryInterval: 3600, disconnectedAt: T0 });
    a.putSubscription('acct/eu', 'p', sub);
    a.putInboundQos2('acct/eu', 'p', 12);
    for (let seq = 1; seq <= 3; seq++) {
      a.putMessage(message(seq));
      a.putQueueEntry(entry('p', seq, seq, seq === 1 ? { packetId: 7, state: 1 } : {}));
    }
    a.putRetained('acct/eu', message(9, { topic: 'r', retain: true }));
    await a.close();
    const b = await PostgresStore.open({ connectionString: url, node: 'b' });
    try {
      const state = b.load();
      // Node b has none of node a's sessions or messages; the retained message is the cluster's.
      assert.deepEqual([state.sessions.length, state.messages.length, state.retained.length], [0, 0, 1]);
      assert.deepEqual(await b.holders('acct/eu', 'p'), ['a']);
      let next = 1000;
      const adopted = await b.adoptSession('acct/eu', 'p', () => ++next);
      assert.ok(adopted);
      assert.equal(adopted.from, 'a');
      assert.deepEqual(adopted.session.subscriptions, [sub]);
      assert.deepEqual(adopted.session.inboundQos2, [12]);
      assert.deepEqual(
        adopted.queue.map((i) => [i.entry.seq, i.entry.messageId, i.message.id, i.entry.packetId, i.message.payload.toString()]),
        [
          [1, 1001, 1001, 7, 'm1'],
          [2, 1002, 1002, 0, 'm2'],
          [3, 1003, 1003, 0, 'm3'],
        ],
      );
      assert.deepEqual(await b.holders('acct/eu', 'p'), []);
      assert.equal(await b.adoptSession('acct/eu', 'p', () => ++next), null);
    } finally {
      await b.close();
    }
    // Stored under b now: b reads it back at its next start, a no longer has it (its message rows stay for it to release).
    const b2 = await PostgresStore.open({ connectionString: url, node: 'b' });
    const a2 = await PostgresStore.open({ connectionString: url, node: 'a' });
    try {
      const sb = b2.load();
      assert.deepEqual([sb.sessions.length, sb.queue.length, sb.messages.map((m) => m.id).sort()], [1, 3, [1001, 1002, 1003]]);
      const sa = a2.load();
      assert.deepEqual([sa.sessions.length, sa.queue.length, sa.messages.length], [0, 0, 3]);
      // A client starting clean on b removes what any other node still has of it.
      a2.putSession({ mount: 'acct/eu', clientId: 'q', protocolVersion: 4, expiryInterval: 60, disconnectedAt: T0 });
      await new Promise<void>((r) => a2.afterCommit(r));
      await b2.dropElsewhere('acct/eu', 'q');
      assert.deepEqual(await b2.holders('acct/eu', 'q'), []);
    } finally {
      await Promise.all([a2.close(), b2.close()]);
    }
  });

  test('clear() drops what was written before it, committed or pending, and keeps what follows', async () => {
    const url = await freshDb();
    let store = await PostgresStore.open({ connectionString: url });
    try {
      store.putSession({ mount: '', clientId: 'old', protocolVersion: 4, expiryInterval: 60, disconnectedAt: null });
      store.putMessage(message(1));
      store.putQueueEntry(entry('old', 1));
      store.putRetained('', message(0, { topic: 'r/old', retain: true }));
      store.putInboundQos2('', 'old', 1);
      store.putSubscription('', 'old', {
        key: 'a',
        qos: 1,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
        subscriptionId: undefined,
      });
      await durable(store);
      store.putMessage(message(2)); // pending when clear() comes
      let before = false;
      store.afterCommit(() => (before = true));
      store.clear();
      store.putMessage(message(3));
      await durable(store);
      assert.ok(before, 'a callback registered before clear() still runs');
      await store.close();
      store = await PostgresStore.open({ connectionString: url });
      assert.deepEqual(normalized(store.load()), { sessions: [], messages: [message(3)], queue: [], retained: [] });
    } finally {
      await store.close();
    }
  });

  test('a broker on PostgreSQL: a persistent QoS 1 session keeps its queue across a restart; PUBACK comes once it is stored', async () => {
    const url = await freshDb();
    const id = uid('pg');
    const topic = `pg/${uid()}`;
    const persistent = { clean: false, properties: { sessionExpiryInterval: 600 } };
    let store = await PostgresStore.open({ connectionString: url });
    const a = await TestBroker.start({ store });
    try {
      const { client: sub } = await a.rawConnected(5, { clientId: id, ...persistent });
      sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await sub.next('suback');
      sub.send({ cmd: 'disconnect' });
      await sub.waitClosed();
      const pub = await a.connect({ protocolVersion: 5 });
      for (let i = 1; i <= 5; i++) {
        await publish(pub, topic, `m${i}`, { qos: 1, retain: i === 5 });
        const rows = await sql(url, 'SELECT count(*)::int AS n FROM mqtt_queue WHERE client_id = $1', [id]);
        assert.equal(rows[0]!.n, i, `PUBACK ${i} came after its queue row was committed`);
      }
    } finally {
      await a.close();
      await store.close();
    }

    store = await PostgresStore.open({ connectionString: url });
    const b = await TestBroker.start({ store });
    try {
      assert.equal(b.broker.sessionCount, 1);
      assert.equal(b.broker.retained('', topic)?.payload.toString(), 'm5');
      const { client: again, connack } = await b.rawConnected(5, { clientId: id, ...persistent });
      assert.equal(connack.sessionPresent, true);
      const got = (await again.takePublishes(5)) as IPublishPacket[];
      assert.deepEqual(
        got.map((p) => p.payload.toString()),
        ['m1', 'm2', 'm3', 'm4', 'm5'],
      );
      for (const p of got) again.send({ cmd: 'puback', messageId: p.messageId });
      assert.deepEqual(await again.drainFor(100), []);
      await b.broker.whenDurable();
      await waitFor(() => !store.pending, 'acknowledgements stored');
      await b.broker.whenDurable();
      // Delivered and acknowledged: no queue rows, no message rows (their last reference went).
      assert.deepEqual(
        await sql(url, 'SELECT (SELECT count(*) FROM mqtt_queue)::int AS q, (SELECT count(*) FROM mqtt_messages)::int AS m'),
        [{ q: 0, m: 0 }],
      );
    } finally {
      await b.close();
      await store.close();
    }
  });

  test('PostgreSQL stopped under writes and started again: nothing acknowledged is lost, callbacks wait for the retried commit', async () => {
    const url = await freshDb();
    const logs: Array<{ level: string; obj: object; msg?: string }> = [];
    const at =
      (level: string) =>
      (obj: object, msg?: string): void =>
        void logs.push({ level, obj, msg });
    const log: BrokerLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
    const health: boolean[] = [];
    const store = await PostgresStore.open({
      connectionString: url,
      log,
      retryMinMs: 20,
      retryMaxMs: 200,
      onHealthChange: (h) => health.push(h),
    });
    let running = true;
    try {
      let issued = 0;
      const acked: number[] = [];
      const ackedAt = new Map<number, number>();
      const writer = setInterval(() => {
        for (let k = 0; k < 5; k++) {
          const i = ++issued;
          store.putMessage(message(i));
          // The same row again and again: the last value must win, so batches must land in order.
          store.putSession({ mount: '', clientId: 'last', protocolVersion: 5, expiryInterval: i, disconnectedAt: null });
          store.afterCommit(() => {
            acked.push(i);
            ackedAt.set(i, Date.now());
          });
        }
      }, 2);
      await sleep(200);
      assert.ok(acked.length > 0);
      await server.pause();
      running = false;
      const issuedAtStop = issued;
      const ackedAtStop = acked.length;
      await sleep(500);
      assert.equal(store.healthy, false);
      assert.deepEqual(health, [false]);
      assert.equal(acked.length, ackedAtStop, 'no callback while the database is down');
      assert.ok(issued > issuedAtStop + 50, 'writes went on');
      const restarted = Date.now();
      await server.resume();
      running = true;
      await waitFor(() => store.healthy, 'the store to recover', 15_000);
      clearInterval(writer);
      await withTimeout(durable(store), 15_000, 'the last commit');
      assert.deepEqual(health, [false, true]);
      assert.deepEqual(
        acked,
        Array.from({ length: issued }, (_, i) => i + 1),
        'every callback once, in order',
      );
      for (let i = issuedAtStop + 1; i <= issued; i++) assert.ok(ackedAt.get(i)! >= restarted, `callback ${i} ran after the restart`);
      const [row] = await sql(
        url,
        "SELECT (SELECT count(*) FROM mqtt_messages)::int AS n, (SELECT expiry_interval FROM mqtt_sessions WHERE client_id = 'last')::int AS last",
      );
      assert.deepEqual(row, { n: issued, last: issued });
      assert.ok(store.stats.failedAttempts > 0);
      console.log(`outage: ${issued} writes, ${issued - issuedAtStop} issued while down, ${store.stats.failedAttempts} failed attempts`);
      // One line per change of state, and never the password or connection string.
      assert.deepEqual(
        logs.filter((l) => l.level !== 'debug').map((l) => l.level),
        ['warn', 'info'],
      );
      const text = JSON.stringify(logs);
      assert.ok(!text.includes(ROLE_PASSWORD) && !text.includes('postgres://'), text);
    } finally {
      if (!running) await server.resume();
      await store.close();
    }
  });

  test('a broker holds PUBACK while PostgreSQL is down and sends it once the message is stored', async () => {
    const url = await freshDb();
    const id = uid('pgdown');
    const topic = `pgdown/${uid()}`;
    const persistent = { clean: false, properties: { sessionExpiryInterval: 600 } };
    let store = await PostgresStore.open({ connectionString: url, retryMinMs: 20, retryMaxMs: 200 });
    let running = true;
    const a = await TestBroker.start({ store });
    try {
      const { client: sub } = await a.rawConnected(5, { clientId: id, ...persistent });
      sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await sub.next('suback');
      sub.send({ cmd: 'disconnect' });
      await sub.waitClosed();
      await a.broker.whenDurable();
      const pub = await a.connect({ protocolVersion: 5 });
      await server.pause();
      running = false;
      let acked = false;
      const puback = publish(pub, topic, 'while-down', { qos: 1 }).then(() => (acked = true));
      await sleep(400);
      assert.equal(acked, false, 'no PUBACK while the message cannot be stored');
      await server.resume();
      running = true;
      await withTimeout(puback, 15_000, 'PUBACK after the restart');
    } finally {
      if (!running) await server.resume();
      await a.close();
      await store.close();
    }
    store = await PostgresStore.open({ connectionString: url });
    const b = await TestBroker.start({ store });
    try {
      const { client: again } = await b.rawConnected(5, { clientId: id, ...persistent });
      const [p] = (await again.takePublishes(1)) as IPublishPacket[];
      assert.equal(p!.payload.toString(), 'while-down');
    } finally {
      await b.close();
      await store.close();
    }
  });
});
