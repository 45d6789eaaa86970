/**
 * Batching of the http action (`enableBatching`, AWS's "Batching HTTP action messages"): messages
 * going to one rendered URL with the same rendered headers (and, unless `batchAcrossTopics`, from
 * the same topic) are gathered into one POST whose body is a JSON array of their outputs, in the
 * order they were added. A batch is sent when it holds `maxBatchSize` messages, when the next
 * message would take its body past `maxBatchSizeBytes`, or `maxBatchOpenMs` after it was opened,
 * whichever comes first. Every message of a batch shares the batch's outcome: each one's promise
 * resolves when the batch was delivered and rejects with the batch's error when it was not.
 */

export interface BatchLimits {
  /** 5–200, AWS's default 20. */
  maxBatchOpenMs: number;
  /** 2–10, AWS's default 10. */
  maxBatchSize: number;
  /** 100–131072, AWS's default 5120: the bytes of the JSON array sent. */
  maxBatchSizeBytes: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxBatchOpenMs: 20, maxBatchSize: 10, maxBatchSizeBytes: 5120 };

/** Sends one batch's body; rejects with the error every message of the batch fails with. */
export type SendBatch<T> = (target: T, body: Buffer) => Promise<void>;

interface Entry {
  element: Buffer;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface OpenBatch<T> {
  target: T;
  entries: Entry[];
  /** Bytes of the body as it stands: `[`, `]`, the elements and the commas between them. */
  bytes: number;
  timer: NodeJS.Timeout;
}

/**
 * The JSON value a message's output is in a batch. AWS documents only JSON outputs (the body is
 * "a JSON array"); what it does with other outputs is not documented, so: JSON text (objects, and
 * also strings, numbers, arrays a SELECT may produce) goes in as it is, anything else (a binary
 * payload) goes in as a JSON string of its bytes read as UTF-8 (bytes that are not UTF-8 become U+FFFD).
 */
export function batchElement(payload: Buffer, json: boolean): Buffer {
  if (json) {
    const text = payload.toString('utf8').trim();
    try {
      JSON.parse(text);
      return Buffer.from(text);
    } catch {
      /* not JSON after all: a string below */
    }
  }
  return Buffer.from(JSON.stringify(payload.toString('utf8')));
}

export class HttpBatcher<T> {
  private readonly open = new Map<string, OpenBatch<T>>();
  private closed = false;

  constructor(
    private readonly limits: BatchLimits,
    private readonly send: SendBatch<T>,
  ) {}

  /**
   * Adds one message's element to the batch of `key` (opening it, with `target`, when there is none);
   * resolves or rejects with the batch. After close() a message is sent on its own at once.
   */
  add(key: string, target: T, element: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry: Entry = { element, resolve, reject };
      if (this.closed) {
        this.dispatch(target, [entry]);
        return;
      }
      let batch = this.open.get(key);
      // A message that would take the body past the byte limit goes into the next batch (one too big
      // on its own is still sent, alone).
      if (batch && batch.bytes + 1 + element.length > this.limits.maxBatchSizeBytes) {
        this.flush(key);
        batch = undefined;
      }
      if (!batch) {
        // Not unref'd: a process that is ending still sends what it holds (at most maxBatchOpenMs later).
        const timer = setTimeout(() => this.flush(key), this.limits.maxBatchOpenMs);
        batch = { target, entries: [], bytes: 2, timer };
        this.open.set(key, batch);
      }
      batch.bytes += (batch.entries.length > 0 ? 1 : 0) + element.length;
      batch.entries.push(entry);
      if (batch.entries.length >= this.limits.maxBatchSize || batch.bytes >= this.limits.maxBatchSizeBytes) this.flush(key);
    });
  }

  /** Sends every open batch now (the rule is being replaced or deleted): nothing waiting is lost. */
  close(): void {
    this.closed = true;
    for (const key of [...this.open.keys()]) this.flush(key);
  }

  /** How many batches are open (for tests). */
  get openBatches(): number {
    return this.open.size;
  }

  private flush(key: string): void {
    const batch = this.open.get(key);
    if (!batch) return;
    this.open.delete(key);
    clearTimeout(batch.timer);
    this.dispatch(batch.target, batch.entries);
  }

  private dispatch(target: T, entries: Entry[]): void {
    const parts: Buffer[] = [Buffer.from('[')];
    entries.forEach((e, i) => {
      if (i > 0) parts.push(Buffer.from(','));
      parts.push(e.element);
    });
    parts.push(Buffer.from(']'));
    let sent: Promise<void>;
    try {
      sent = this.send(target, Buffer.concat(parts));
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      () => {
        for (const e of entries) e.resolve();
      },
      (err: unknown) => {
        for (const e of entries) e.reject(err);
      },
    );
  }
}
