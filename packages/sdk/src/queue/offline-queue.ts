/**
 * The bounded publish queue: QoS 1 messages wait here, in order, until the broker acknowledges them.
 * With a file they survive a restart of the device process; the bound (messages and bytes) and the
 * drop policy decide what happens when it is full.
 */
import { MessageDroppedError, QueueFullError } from '../errors.js';
import { QueueFile, type StoredMessage } from './queue-file.js';

export type DropPolicy = 'drop-oldest' | 'drop-newest' | 'reject';

export interface OfflineQueueOptions {
  /** JSON-lines file that keeps the queue across restarts; in memory only when absent. */
  file?: string;
  /** Default 1000. */
  maxMessages?: number;
  /** Topic plus payload bytes of all queued messages; default 1 MiB. */
  maxBytes?: number;
  /** Default `drop-oldest`: fresh data matters more than old on most devices. */
  dropPolicy?: DropPolicy;
  /** fsync each group of appends (default true). */
  fsync?: boolean;
}

export interface MessageProperties {
  contentType?: string;
  responseTopic?: string;
  messageExpiryInterval?: number;
  payloadFormatIndicator?: boolean;
  userProperties?: Record<string, string | string[]>;
}

export interface QueuedMessage {
  seq: number;
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
  properties?: MessageProperties;
  queuedAt: number;
}

export type NewMessage = Omit<QueuedMessage, 'seq' | 'queuedAt'>;

const sizeOf = (m: { topic: string; payload: Buffer }): number => Buffer.byteLength(m.topic) + m.payload.length;

function toStored(m: QueuedMessage): StoredMessage {
  const s: StoredMessage = { seq: m.seq, topic: m.topic, payload: m.payload.toString('base64'), qos: m.qos, queuedAt: m.queuedAt };
  if (m.retain) s.retain = true;
  if (m.properties) s.properties = m.properties as Record<string, unknown>;
  return s;
}

function fromStored(s: StoredMessage): QueuedMessage {
  const m: QueuedMessage = {
    seq: s.seq,
    topic: s.topic,
    payload: Buffer.from(s.payload, 'base64'),
    qos: s.qos,
    retain: s.retain === true,
    queuedAt: s.queuedAt,
  };
  if (s.properties) m.properties = s.properties as MessageProperties;
  return m;
}

export interface AddResult {
  message: QueuedMessage;
  /** Older messages `drop-oldest` evicted to make room. */
  evicted: QueuedMessage[];
}

export class OfflineQueue {
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly dropPolicy: DropPolicy;
  private readonly messages: QueuedMessage[] = [];
  private totalBytes = 0;
  private nextSeq = 1;

  private constructor(
    options: OfflineQueueOptions,
    private readonly file: QueueFile | undefined,
    restored: StoredMessage[],
  ) {
    this.maxMessages = options.maxMessages ?? 1000;
    this.maxBytes = options.maxBytes ?? 1024 * 1024;
    this.dropPolicy = options.dropPolicy ?? 'drop-oldest';
    for (const s of restored) {
      const m = fromStored(s);
      this.messages.push(m);
      this.totalBytes += sizeOf(m);
      this.nextSeq = Math.max(this.nextSeq, m.seq + 1);
    }
  }

  static async open(options: OfflineQueueOptions = {}): Promise<OfflineQueue> {
    if (!options.file) return new OfflineQueue(options, undefined, []);
    const { file, messages } = await QueueFile.open(options.file, { fsync: options.fsync });
    return new OfflineQueue(options, file, messages);
  }

  get size(): number {
    return this.messages.length;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** The queued messages, oldest first. */
  list(): readonly QueuedMessage[] {
    return this.messages;
  }

  /**
   * Queues a message (written to the file before this resolves). When full: `reject` throws
   * QueueFullError, `drop-newest` throws MessageDroppedError, `drop-oldest` evicts the oldest
   * messages that `canEvict` allows (not those on the wire) and returns them.
   */
  async add(input: NewMessage, canEvict: (m: QueuedMessage) => boolean = () => true): Promise<AddResult> {
    const bytes = sizeOf(input);
    if (bytes > this.maxBytes || this.maxMessages < 1)
      throw new QueueFullError(`a message of ${bytes} bytes can never fit a queue of ${this.maxBytes} bytes`);
    const fits = (): boolean => this.messages.length < this.maxMessages && this.totalBytes + bytes <= this.maxBytes;
    const evicted: QueuedMessage[] = [];
    if (!fits()) {
      const full = `offline queue full (${this.messages.length}/${this.maxMessages} messages, ${this.totalBytes}/${this.maxBytes} bytes)`;
      if (this.dropPolicy === 'reject') throw new QueueFullError(full);
      if (this.dropPolicy === 'drop-newest') throw new MessageDroppedError(`${full}: new message dropped`, 'drop-newest');
      for (let i = 0; i < this.messages.length && !fits();) {
        const m = this.messages[i]!;
        if (!canEvict(m)) {
          i++;
          continue;
        }
        this.messages.splice(i, 1);
        this.totalBytes -= sizeOf(m);
        evicted.push(m);
      }
      if (!fits()) throw new QueueFullError(`${full}, and the messages left are being sent`);
    }
    const message: QueuedMessage = { ...input, seq: this.nextSeq++, queuedAt: Date.now() };
    this.messages.push(message);
    this.totalBytes += bytes;
    if (this.file) {
      for (const m of evicted) await this.file.remove(m.seq, () => this.messages.map(toStored));
      await this.file.append(toStored(message));
    }
    return { message, evicted };
  }

  /** Removes a message (acknowledged, or refused for good); resolves once that is on disk. */
  async remove(seq: number): Promise<boolean> {
    const i = this.messages.findIndex((m) => m.seq === seq);
    if (i < 0) return false;
    const [m] = this.messages.splice(i, 1);
    this.totalBytes -= sizeOf(m!);
    await this.file?.remove(seq, () => this.messages.map(toStored));
    return true;
  }

  async close(): Promise<void> {
    await this.file?.close();
  }
}
