/** How capabilities write the tags of their resources (the tags capability implements both). */
import type { Tag } from '../registry/validation.js';
import type { Statement } from '../store/sql/engine.js';

/** Statements a capability runs in the batch that creates or deletes the resource. */
export interface TagWriter {
  putting(arn: string, tags: readonly Tag[]): Statement[];
  removing(arn: string): Statement[];
}

/** The tag writer as synchronous calls, for a store still on the SQLite database: inside its transaction. */
export interface SyncTagWriter {
  put(arn: string, tags: readonly Tag[]): void;
  remove(arn: string): void;
}
