/** A test MQTT client's inbox: what arrives, queued per topic, parsed as JSON. */
import type { MqttClient } from 'mqtt';

/** Messages received on a client, queued per topic; `next` waits for the next one on a topic. */
export class Inbox<D extends object = Record<string, unknown>> {
  private readonly queues = new Map<string, D[]>();
  private readonly waiters = new Map<string, Array<(d: D) => void>>();
  readonly topics: string[] = [];

  constructor(client: MqttClient) {
    client.on('message', (topic, payload) => {
      this.topics.push(topic);
      // Requests (possibly empty or malformed on purpose) arrive too when a test subscribes to a whole topic tree.
      let doc: D;
      try {
        doc = JSON.parse(payload.toString()) as D;
      } catch {
        doc = { raw: payload.toString() } as unknown as D;
      }
      const w = this.waiters.get(topic)?.shift();
      if (w) w(doc);
      else this.queues.set(topic, [...(this.queues.get(topic) ?? []), doc]);
    });
  }

  next(topic: string, timeoutMs = 3000): Promise<D> {
    const queued = this.queues.get(topic)?.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`nothing on ${topic} within ${timeoutMs} ms (saw: ${this.topics.join(', ')})`)),
        timeoutMs,
      );
      const list = this.waiters.get(topic) ?? [];
      list.push((d) => {
        clearTimeout(timer);
        resolve(d);
      });
      this.waiters.set(topic, list);
    });
  }

  /** How many messages arrived on `topic` and were not taken by `next`. */
  pending(topic: string): number {
    return this.queues.get(topic)?.length ?? 0;
  }

  count(topic: string): number {
    return this.topics.filter((t) => t === topic).length;
  }
}
