/**
 * Makes dropped messages visible: counted per reason in BrokerStats, and logged per client at most
 * once per interval (the first drop at once, later ones summed into the next line), so a client
 * whose queue overflows under load does not flood the log.
 */
import type { BrokerLogger } from './broker-types.js';
import type { DropReason, Session } from './session.js';
import type { BrokerStats } from './stats.js';

export const DROP_LOG_INTERVAL_MS = 10_000;

/** Drops that say something is wrong with a client or a limit; the others are MQTT working as specified. */
const LOGGED: Partial<Record<DropReason, string>> = {
  queue_full: 'its queue holds maxQueued messages',
  queue_full_bytes: 'its queue holds maxQueuedBytes',
  slow_consumer: 'QoS 0 message to a client that does not keep up',
  packet_too_large: "larger than the client's Maximum Packet Size",
};

export class DropLog {
  constructor(
    private readonly stats: BrokerStats,
    private readonly log: BrokerLogger,
    private readonly intervalMs = DROP_LOG_INTERVAL_MS,
  ) {}

  /** Counts a drop; `session` names the client it was meant for. */
  note(reason: DropReason, session: Session | undefined): void {
    this.stats.dropped[reason]++;
    const why = LOGGED[reason];
    if (!why || !session) return;
    session.dropsUnlogged++;
    const now = Date.now();
    if (now - session.dropLoggedAt < this.intervalMs) return;
    this.log.warn(
      {
        clientId: session.clientId,
        mount: session.mount,
        reason,
        dropped: session.dropsUnlogged,
        queued: session.queued,
        queuedBytes: session.queuedBytes,
        connected: session.link !== null,
      },
      `messages for client "${session.clientId}" dropped (${reason}: ${why})`,
    );
    session.dropsUnlogged = 0;
    session.dropLoggedAt = now;
  }
}
