/**
 * Locates the first JSON syntax error in a text. V8's JSON.parse messages differ between versions and
 * sometimes carry no position at all, while a policy author needs "line 3, column 5"; so after
 * JSON.parse fails this scanner re-reads the text with the grammar of RFC 8259 and reports where.
 */

export interface JsonSyntaxError {
  message: string;
  offset: number;
  line: number;
  column: number;
}

class Stop {
  constructor(
    readonly message: string,
    readonly offset: number,
  ) {}
}

const WS = new Set([' ', '\t', '\n', '\r']);
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

function describe(ch: string): string {
  // Control characters would be invisible in the message.
  return ch < ' ' || ch === '\u007f' ? JSON.stringify(ch) : ch;
}

class Scanner {
  private i = 0;
  constructor(private readonly s: string) {}

  run(): void {
    this.value();
    this.ws();
    if (this.i < this.s.length) throw new Stop(`Unexpected non-whitespace character ${describe(this.s[this.i]!)} after JSON`, this.i);
  }

  private ws(): void {
    while (this.i < this.s.length && WS.has(this.s[this.i]!)) this.i++;
  }

  private unexpected(): never {
    if (this.i >= this.s.length) throw new Stop('Unexpected end of input', this.i);
    throw new Stop(`Unexpected token ${describe(this.s[this.i]!)}`, this.i);
  }

  private value(): void {
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const word of ['true', 'false', 'null']) {
      if (c === word[0]) {
        for (const expected of word) {
          if (this.s[this.i] !== expected) this.unexpected();
          this.i++;
        }
        return;
      }
    }
    this.unexpected();
  }

  private object(): void {
    this.i++; // {
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.unexpected();
      this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.unexpected();
      this.i++;
      this.value();
      this.ws();
      const c = this.s[this.i];
      if (c === '}') {
        this.i++;
        return;
      }
      if (c !== ',') this.unexpected();
      this.i++;
    }
  }

  private array(): void {
    this.i++; // [
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return;
    }
    for (;;) {
      this.value();
      this.ws();
      const c = this.s[this.i];
      if (c === ']') {
        this.i++;
        return;
      }
      if (c !== ',') this.unexpected();
      this.i++;
    }
  }

  private string(): void {
    const start = this.i;
    this.i++; // opening quote
    for (;;) {
      if (this.i >= this.s.length) throw new Stop('Unterminated string', start);
      const c = this.s[this.i]!;
      if (c === '"') {
        this.i++;
        return;
      }
      if (c < ' ') throw new Stop('Bad control character in string literal', this.i);
      if (c === '\\') {
        const e = this.s[this.i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.s.slice(this.i + 2, this.i + 6))) throw new Stop('Bad Unicode escape', this.i);
          this.i += 6;
          continue;
        }
        if (e === undefined || !ESCAPES.has(e)) throw new Stop('Bad escaped character', this.i);
        this.i += 2;
        continue;
      }
      this.i++;
    }
  }

  private digits(): void {
    const c = this.s[this.i];
    if (c === undefined || c < '0' || c > '9') this.unexpected();
    while (this.s[this.i]! >= '0' && this.s[this.i]! <= '9') this.i++;
  }

  private number(): void {
    if (this.s[this.i] === '-') this.i++;
    // A leading zero stands alone; "01" fails at the "1", where a separator was expected.
    if (this.s[this.i] === '0') this.i++;
    else this.digits();
    if (this.s[this.i] === '.') {
      this.i++;
      this.digits();
    }
    if (this.s[this.i] === 'e' || this.s[this.i] === 'E') {
      this.i++;
      if (this.s[this.i] === '+' || this.s[this.i] === '-') this.i++;
      this.digits();
    }
  }
}

/** 1-based line and column (in UTF-16 code units, as editors using JS strings count) of an offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** The first syntax error of `text`, or undefined when it is valid JSON. */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  try {
    new Scanner(text).run();
    return undefined;
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    return { message: err.message, offset: err.offset, ...lineAndColumn(text, err.offset) };
  }
}
