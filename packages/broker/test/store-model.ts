/**
 * A model of what a BrokerStore keeps: random sequences of its operations (with commits and turns of
 * the event loop between them) applied to a store and to MemoryStore, and load() in one order
 * whatever the engine, so that a SQL store read back after close and reopen can be compared with
 * the model. Shared by the store tests of each engine.
 */
import fc from 'fast-check';
import { MemoryStore, type BrokerStore, type MessageProperties, type StoredMessage, type StoredState } from '@thicket/broker';

export const T0 = 1_750_000_000_000;

/** Resolves once everything written to `store` so far is committed. */
export function durable(store: BrokerStore): Promise<void> {
  return new Promise((resolve) => {
    store.afterCommit(resolve);
    store.flush();
  });
}

/** load() in one order whatever the engine, as plain objects (fast-check's records may have no prototype), for comparing. */
export function normalized(s: StoredState): StoredState {
  const by =
    <T>(key: (x: T) => string) =>
    (a: T, b: T) =>
      key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
  const pad = (n: number): string => String(n).padStart(12, '0');
  return {
    sessions: s.sessions
      .map((x) => ({
        ...x,
        subscriptions: x.subscriptions.map((u) => ({ ...u })).sort(by((u) => u.key)),
        inboundQos2: [...x.inboundQos2].sort(),
      }))
      .sort(by((x) => `${x.mount}\0${x.clientId}`)),
    messages: s.messages.map((m) => ({ ...m })).sort((a, b) => a.id - b.id),
    queue: s.queue.map((q) => ({ ...q })).sort(by((q) => `${q.mount}\0${q.clientId}\0${pad(q.seq)}`)),
    retained: s.retained.map((r) => ({ mount: r.mount, message: { ...r.message } })).sort(by((r) => `${r.mount}\0${r.message.topic}`)),
  };
}

// ---- random operation sequences ------------------------------------------------------------

export type Op = { name: string; run: (s: BrokerStore) => void } | { name: 'commit' | 'turn' };

const mount = fc.constantFrom('', 'acct/eu');
const client = fc.constantFrom('a', 'b');
const PROPS: MessageProperties[] = [
  {},
  {
    contentType: 'text/plain',
    userProperties: [
      ['k', 'v'],
      ['list', '1'],
      ['list', '2'],
    ],
  },
  { correlationData: Buffer.from([0, 1, 255]), responseTopic: 'r/1', payloadFormatIndicator: 1, messageExpiryInterval: 60 },
];
const props = fc.constantFrom(...PROPS);
const stored = (id: fc.Arbitrary<number>, retained: boolean): fc.Arbitrary<StoredMessage> =>
  fc.record({
    id,
    topic: fc.constantFrom('x/1', 'x/2'),
    payload: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
    qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
    retain: retained ? fc.constant(true) : fc.boolean(),
    properties: props,
    createdAt: fc.integer({ min: T0, max: T0 + 1000 }),
    expiresAt: fc.constantFrom(0, T0 + 60_000),
  });
export const op: fc.Arbitrary<Op> = fc.oneof(
  fc
    .record({
      mount,
      clientId: client,
      protocolVersion: fc.constantFrom(4, 5),
      expiryInterval: fc.constantFrom(0, 60, 0xffffffff),
      at: fc.option(fc.nat(1000)),
    })
    .map(({ at, ...s }) => ({
      name: 'putSession',
      run: (st: BrokerStore) => st.putSession({ ...s, disconnectedAt: at === null ? null : T0 + at }),
    })),
  fc
    .record({ mount, client })
    .map(({ mount: m, client: c }) => ({ name: 'deleteSession', run: (st: BrokerStore) => st.deleteSession(m, c) })),
  fc
    .record({
      mount,
      client,
      key: fc.constantFrom('x/1', '$share/g/x/#', 'x/+'),
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      noLocal: fc.boolean(),
      retainAsPublished: fc.boolean(),
      retainHandling: fc.constantFrom(0 as const, 1 as const, 2 as const),
      subscriptionId: fc.option(fc.constantFrom(1, 268_435_455), { nil: undefined }),
    })
    .map(({ mount: m, client: c, ...sub }) => ({ name: 'putSubscription', run: (st: BrokerStore) => st.putSubscription(m, c, sub) })),
  fc
    .record({ mount, client, key: fc.constantFrom('x/1', '$share/g/x/#', 'x/+') })
    .map(({ mount: m, client: c, key }) => ({ name: 'deleteSubscription', run: (st: BrokerStore) => st.deleteSubscription(m, c, key) })),
  fc.record({ mount, client, id: fc.integer({ min: 1, max: 3 }), put: fc.boolean() }).map(({ mount: m, client: c, id, put }) => ({
    name: put ? 'putInboundQos2' : 'deleteInboundQos2',
    run: (st: BrokerStore) => (put ? st.putInboundQos2(m, c, id) : st.deleteInboundQos2(m, c, id)),
  })),
  stored(fc.integer({ min: 1, max: 3 }), false).map((m) => ({ name: 'putMessage', run: (st: BrokerStore) => st.putMessage(m) })),
  fc.integer({ min: 1, max: 3 }).map((id) => ({ name: 'deleteMessage', run: (st: BrokerStore) => st.deleteMessage(id) })),
  fc
    .record({
      mount,
      clientId: client,
      seq: fc.integer({ min: 1, max: 4 }),
      messageId: fc.integer({ min: 1, max: 3 }),
      qos: fc.constantFrom(1 as const, 2 as const),
      retain: fc.boolean(),
      subscriptionIds: fc.constantFrom<number[] | null>(null, [7], [1, 268_435_455]),
      packetId: fc.integer({ min: 0, max: 3 }),
      state: fc.constantFrom(0 as const, 1 as const, 2 as const),
    })
    .map((e) => ({ name: 'putQueueEntry', run: (st: BrokerStore) => st.putQueueEntry(e) })),
  fc
    .record({
      mount,
      client,
      seq: fc.integer({ min: 1, max: 4 }),
      pid: fc.integer({ min: 1, max: 9 }),
      state: fc.constantFrom(0 as const, 1 as const, 2 as const),
    })
    .map(({ mount: m, client: c, seq, pid, state }) => ({
      name: 'updateQueueEntry',
      run: (st: BrokerStore) => st.updateQueueEntry(m, c, seq, pid, state),
    })),
  fc
    .record({ mount, client, seq: fc.integer({ min: 1, max: 4 }) })
    .map(({ mount: m, client: c, seq }) => ({ name: 'deleteQueueEntry', run: (st: BrokerStore) => st.deleteQueueEntry(m, c, seq) })),
  fc
    .record({ mount, m: stored(fc.constant(0), true) })
    .map(({ mount: m, m: msg }) => ({ name: 'putRetained', run: (st: BrokerStore) => st.putRetained(m, msg) })),
  fc
    .record({ mount, topic: fc.constantFrom('x/1', 'x/2') })
    .map(({ mount: m, topic }) => ({ name: 'deleteRetained', run: (st: BrokerStore) => st.deleteRetained(m, topic) })),
  { arbitrary: fc.constant<Op>({ name: 'clear', run: (st: BrokerStore) => st.clear() }), weight: 1 },
  { arbitrary: fc.constant<Op>({ name: 'commit' }), weight: 2 },
  { arbitrary: fc.constant<Op>({ name: 'turn' }), weight: 2 },
);

/** Applies `ops` to `store` and to a MemoryStore; 'commit' waits for durability, 'turn' for one turn of the event loop. */
export async function apply(store: BrokerStore, ops: Op[]): Promise<StoredState> {
  const model = new MemoryStore();
  for (const o of ops) {
    if ('run' in o) {
      o.run(store);
      o.run(model);
    } else if (o.name === 'commit') await durable(store);
    else await new Promise((r) => setImmediate(r));
  }
  await durable(store);
  return model.load();
}
