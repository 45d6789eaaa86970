/**
 * The platform's in-process subscribers (shadows, jobs, HTTP subscribe streams): their filters, and
 * handing them what the router routes. A handler that stores what it took returns a promise, which
 * the publisher's acknowledgement waits for (RouteOutcome.services).
 */
import type { BrokerLogger, Publisher, RouteOutcome, ServiceHandler } from './broker-types.js';
import type { Message } from './message.js';
import { TopicTree } from './topic-tree.js';

interface ServiceSubscription {
  handler: ServiceHandler;
  /** undefined: every namespace. */
  mount: string | undefined;
}

export class InProcessServices {
  private readonly tree: TopicTree<ServiceSubscription>;

  constructor(
    hashMatchesParent: boolean,
    private readonly log: BrokerLogger,
  ) {
    this.tree = new TopicTree(hashMatchesParent);
  }

  get size(): number {
    return this.tree.size;
  }

  /** Subscribes `handler` to `filter`, in `mount` or (undefined) every namespace; returns what unsubscribes it. */
  add(filter: string, handler: ServiceHandler, mount: string | undefined): () => void {
    const entry: ServiceSubscription = { handler, mount };
    this.tree.add(filter, entry);
    return () => {
      this.tree.remove(filter, entry);
    };
  }

  /** Returns how many handlers took the message; `outcome.services` waits for those still storing it. */
  dispatch(mount: string, msg: Message, outcome: RouteOutcome | undefined, publisher: Publisher | undefined): number {
    const handlers: ServiceSubscription[] = [];
    this.tree.match(msg.topic, {
      onSubscription(s) {
        if (s.mount === undefined || s.mount === mount) handlers.push(s);
      },
      onSharedGroup() {},
    });
    let pending: Promise<unknown>[] | undefined;
    for (const h of handlers) {
      try {
        const storing = h.handler(msg, mount, publisher);
        if (storing instanceof Promise) (pending ??= []).push(storing);
      } catch (err) {
        this.log.error({ err, topic: msg.topic }, 'in-process subscriber failed');
      }
    }
    // A handler that failed answered for itself (a /rejected topic): the publish is acknowledged all the same.
    if (pending && outcome) outcome.services = Promise.allSettled(pending);
    return handlers.length;
  }
}
