/** How capabilities write the tags of their resources (the tags capability implements both). */
import type { Tag } from '../registry/validation.js';
import type { Statement } from '../store/sql/engine.js';

/** Statements a capability runs in the batch that creates or deletes the resource. */
export interface TagWriter {
  putting(arn: string, tags: readonly Tag[]): Statement[];
  removing(arn: string): Statement[];
}
