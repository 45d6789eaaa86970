/**
 * Store kept in process memory: what `--ephemeral` runs on, and a stand-in for SQLite in tests.
 * It survives a Broker being closed and a new one being made on the same instance, not a process exit.
 */
import type { BrokerStore, StoredMessage, StoredQueueEntry, StoredSession, StoredState, StoredSubscription } from './types.js';

const key = (mount: string, clientId: string): string => `${mount}\u0000${clientId}`;

export class MemoryStore implements BrokerStore {
  private sessions = new Map<string, Omit<StoredSession, 'subscriptions' | 'inboundQos2'>>();
  private inbound = new Map<string, Set<number>>();
  private subscriptions = new Map<string, Map<string, StoredSubscription>>();
  private messages = new Map<number, StoredMessage>();
  private queue = new Map<string, Map<number, StoredQueueEntry>>();
  private retained = new Map<string, { mount: string; message: StoredMessage }>();
  readonly pending = false;

  load(): StoredState {
    return {
      sessions: [...this.sessions.entries()].map(([k, s]) => ({
        ...s,
        subscriptions: [...(this.subscriptions.get(k)?.values() ?? [])],
        inboundQos2: [...(this.inbound.get(k) ?? [])],
      })),
      messages: [...this.messages.values()],
      queue: [...this.queue.values()].flatMap((m) => [...m.values()]),
      retained: [...this.retained.values()],
    };
  }

  putSession(session: Omit<StoredSession, 'subscriptions' | 'inboundQos2'>): void {
    this.sessions.set(key(session.mount, session.clientId), { ...session });
  }

  deleteSession(mount: string, clientId: string): void {
    const k = key(mount, clientId);
    this.sessions.delete(k);
    this.subscriptions.delete(k);
    this.queue.delete(k);
    this.inbound.delete(k);
  }

  putInboundQos2(mount: string, clientId: string, packetId: number): void {
    const k = key(mount, clientId);
    let set = this.inbound.get(k);
    if (!set) this.inbound.set(k, (set = new Set()));
    set.add(packetId);
  }

  deleteInboundQos2(mount: string, clientId: string, packetId: number): void {
    this.inbound.get(key(mount, clientId))?.delete(packetId);
  }

  putSubscription(mount: string, clientId: string, sub: StoredSubscription): void {
    const k = key(mount, clientId);
    let m = this.subscriptions.get(k);
    if (!m) this.subscriptions.set(k, (m = new Map()));
    m.set(sub.key, { ...sub });
  }

  deleteSubscription(mount: string, clientId: string, subKey: string): void {
    this.subscriptions.get(key(mount, clientId))?.delete(subKey);
  }

  putMessage(message: StoredMessage): void {
    this.messages.set(message.id, message);
  }

  deleteMessage(id: number): void {
    this.messages.delete(id);
  }

  putQueueEntry(entry: StoredQueueEntry): void {
    const k = key(entry.mount, entry.clientId);
    let m = this.queue.get(k);
    if (!m) this.queue.set(k, (m = new Map()));
    m.set(entry.seq, { ...entry });
  }

  updateQueueEntry(mount: string, clientId: string, seq: number, packetId: number, state: 0 | 1 | 2): void {
    const e = this.queue.get(key(mount, clientId))?.get(seq);
    if (e) {
      e.packetId = packetId;
      e.state = state;
    }
  }

  deleteQueueEntry(mount: string, clientId: string, seq: number): void {
    this.queue.get(key(mount, clientId))?.delete(seq);
  }

  putRetained(mount: string, message: StoredMessage): void {
    this.retained.set(key(mount, message.topic), { mount, message });
  }

  deleteRetained(mount: string, topic: string): void {
    this.retained.delete(key(mount, topic));
  }

  clear(): void {
    this.sessions.clear();
    this.subscriptions.clear();
    this.messages.clear();
    this.queue.clear();
    this.retained.clear();
    this.inbound.clear();
  }

  afterCommit(callback: () => void): void {
    // Nothing to wait for; still asynchronous so callers see one behaviour.
    queueMicrotask(callback);
  }

  flush(): void {}

  close(): void {}
}
