/**
 * The offline queue's file: JSON lines, appended — `{"add":...}` when a message is queued,
 * `{"del":seq}` once it is acknowledged or dropped — and rewritten with the live messages only
 * (to a temporary file, then renamed over) when the dead lines outnumber them. Appends are grouped:
 * lines written while a write is under way go out together with one fsync.
 */
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A queued message as stored; the payload as base64 so any bytes survive JSON. */
export interface StoredMessage {
  seq: number;
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain?: boolean;
  properties?: Record<string, unknown>;
  /** Epoch ms when it was queued. */
  queuedAt: number;
}

type Line = { add: StoredMessage } | { del: number };

/** Compaction waits until at least this many dead lines exist, so small queues do not rewrite on every ack. */
const MIN_DEAD_LINES_FOR_COMPACTION = 256;

export interface QueueFileOptions {
  /** fsync after each group of appends (default true): a queued message survives a power cut, not only a crash. */
  fsync?: boolean;
}

export class QueueFile {
  private handle: FileHandle | undefined;
  private live = 0;
  private dead = 0;
  private pending: string[] = [];
  private writing: Promise<void> | undefined;
  private closed = false;
  private readonly fsync: boolean;

  private constructor(
    readonly path: string,
    options: QueueFileOptions,
  ) {
    this.fsync = options.fsync ?? true;
  }

  /** Opens (creating) the file and returns it with the messages still queued in it, oldest first. */
  static async open(path: string, options: QueueFileOptions = {}): Promise<{ file: QueueFile; messages: StoredMessage[] }> {
    const file = new QueueFile(path, options);
    await mkdir(dirname(path), { recursive: true });
    const messages = parseLines(
      await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? '' : Promise.reject(err))),
    );
    // Rewriting on open also drops a torn last line left by a crash, which a later append would otherwise extend.
    await file.rewrite(messages);
    return { file, messages };
  }

  append(message: StoredMessage): Promise<void> {
    this.live++;
    return this.enqueue(JSON.stringify({ add: message } satisfies Line));
  }

  /** Marks a message gone (acknowledged or dropped). `remaining` are the live messages, for compaction. */
  remove(seq: number, remaining: () => StoredMessage[]): Promise<void> {
    this.live--;
    this.dead += 2;
    const done = this.enqueue(JSON.stringify({ del: seq } satisfies Line));
    if (this.dead >= MIN_DEAD_LINES_FOR_COMPACTION && this.dead > this.live) return done.then(() => this.compact(remaining));
    return done;
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.writing) await this.writing;
    await this.handle?.close();
    this.handle = undefined;
  }

  private enqueue(line: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`queue file ${this.path} is closed`));
    this.pending.push(line);
    return this.flush();
  }

  private async flush(): Promise<void> {
    // Whoever comes while a write is under way waits for it, then writes everything pending at once.
    while (this.writing) await this.writing;
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    this.writing = (async () => {
      await this.handle!.appendFile(lines.join('\n') + '\n');
      if (this.fsync) await this.handle!.datasync();
    })();
    try {
      await this.writing;
    } finally {
      this.writing = undefined;
    }
  }

  private async compact(remaining: () => StoredMessage[]): Promise<void> {
    while (this.writing) await this.writing;
    if (this.closed || this.dead <= this.live) return;
    let release!: () => void;
    this.writing = new Promise<void>((r) => (release = r));
    try {
      await this.rewrite(remaining());
    } finally {
      this.writing = undefined;
      release();
    }
  }

  private async rewrite(messages: StoredMessage[]): Promise<void> {
    const tmp = `${this.path}.tmp`;
    const out = await open(tmp, 'w');
    try {
      if (messages.length) await out.writeFile(messages.map((m) => JSON.stringify({ add: m } satisfies Line)).join('\n') + '\n');
      await out.sync();
    } finally {
      await out.close();
    }
    await this.handle?.close();
    await rename(tmp, this.path);
    this.handle = await open(this.path, 'a');
    this.live = messages.length;
    this.dead = 0;
  }
}

/** Replays the lines; unparseable ones (a torn last write) are skipped. */
function parseLines(text: string): StoredMessage[] {
  const live = new Map<number, StoredMessage>();
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let line: Partial<{ add: StoredMessage; del: number }>;
    try {
      line = JSON.parse(raw) as typeof line;
    } catch {
      continue;
    }
    if (typeof line.del === 'number') live.delete(line.del);
    else if (line.add && typeof line.add.seq === 'number' && typeof line.add.topic === 'string' && typeof line.add.payload === 'string')
      live.set(line.add.seq, line.add);
  }
  return [...live.values()].sort((a, b) => a.seq - b.seq);
}
