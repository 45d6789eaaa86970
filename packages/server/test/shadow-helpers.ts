/** Test helpers for shadows: a client that collects what the shadow service publishes, by topic. */
import { Inbox as MqttInbox } from './inbox.js';

export type Doc = Record<string, unknown> & {
  state?: Record<string, unknown> | null;
  metadata?: Record<string, unknown>;
  version?: number;
  timestamp?: number;
  clientToken?: string;
  code?: number;
  message?: string;
};

/** Shadow documents received on a client, queued per topic. */
export class Inbox extends MqttInbox<Doc> {}
