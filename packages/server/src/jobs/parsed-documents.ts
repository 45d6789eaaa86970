/**
 * Job documents parsed once and shared: documents without placeholders are the same for every
 * device, and a rollout or a thousand devices asking for the next job would each parse them. Kept
 * frozen (every answer serialises the same object) and bounded, the least recently used going first.
 */
export class ParsedDocuments {
  private readonly byText = new Map<string, unknown>();

  constructor(private readonly capacity: number) {}

  get(text: string): unknown {
    let doc = this.byText.get(text);
    if (doc !== undefined || this.byText.has(text)) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.byText.delete(text);
    } else {
      doc = deepFreeze(JSON.parse(text) as unknown);
      if (this.byText.size >= this.capacity) this.byText.delete(this.byText.keys().next().value!);
    }
    this.byText.set(text, doc);
    return doc;
  }
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}
