/**
 * The intrinsic functions of provisioning templates (reference dataplane §6): `Ref`, `Fn::Join`,
 * `Fn::Select`, `Fn::Split`, `Fn::Sub`, `Fn::FindInMap`, `Fn::If`, and in the `Conditions` section
 * `Fn::Equals`, `Fn::And`, `Fn::Or`, `Fn::Not` and `Condition`, with CloudFormation's meaning.
 *
 * Policy variables (`${iot:Connection.Thing.ThingName}`, `${aws:...}`) are not template variables:
 * a policy written into a template keeps them for the policy engine, inside `Fn::Sub` too.
 */

/** A template that cannot be evaluated with the parameters given: AWS's `InvalidParameters`. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidParameters';
  }
}

/** `{"Ref": "AWS::NoValue"}`: the property or list element is left out. */
export const NO_VALUE: unique symbol = Symbol('AWS::NoValue');

export interface Scope {
  /** Parameters (given, else their default) and the pseudo parameters of the certificate. */
  values: ReadonlyMap<string, string>;
  mappings: Readonly<Record<string, unknown>>;
  /** The `Conditions` section, evaluated on first use. */
  conditions: Readonly<Record<string, unknown>>;
}

const FUNCTIONS = new Set(['Ref', 'Fn::Join', 'Fn::Select', 'Fn::Split', 'Fn::Sub', 'Fn::FindInMap', 'Fn::If']);
const CONDITION_FUNCTIONS = new Set(['Fn::Equals', 'Fn::And', 'Fn::Or', 'Fn::Not', 'Condition']);

/** The function an object calls, when it is one (a single key naming a function). */
export function intrinsicName(node: unknown): string | undefined {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
  const keys = Object.keys(node);
  if (keys.length !== 1) return undefined;
  const k = keys[0]!;
  return FUNCTIONS.has(k) || CONDITION_FUNCTIONS.has(k) ? k : undefined;
}

/** Names every `Fn::` and `Ref` a template may use (for the validation at create). */
export function isKnownFunction(name: string): boolean {
  return FUNCTIONS.has(name) || CONDITION_FUNCTIONS.has(name);
}

export class Evaluator {
  private readonly decided = new Map<string, boolean>();
  private readonly deciding = new Set<string>();

  constructor(private readonly scope: Scope) {}

  /** A value with every intrinsic function in it applied; NO_VALUE for a property to leave out. */
  value(node: unknown): unknown {
    const fn = intrinsicName(node);
    if (fn !== undefined) return this.call(fn, (node as Record<string, unknown>)[fn]);
    if (Array.isArray(node)) return node.map((n) => this.value(n)).filter((v) => v !== NO_VALUE);
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) {
        const r = this.value(v);
        if (r !== NO_VALUE) out[k] = r;
      }
      return out;
    }
    return node;
  }

  /** A value that must come out as a string. */
  string(node: unknown, where: string): string {
    const v = this.value(node);
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new TemplateError(`${where} must resolve to a string`);
  }

  /** Whether the named condition of the `Conditions` section holds. */
  condition(name: string): boolean {
    const known = this.decided.get(name);
    if (known !== undefined) return known;
    if (!Object.hasOwn(this.scope.conditions, name)) throw new TemplateError(`Condition ${name} is not defined in Conditions`);
    if (this.deciding.has(name)) throw new TemplateError(`Condition ${name} refers to itself`);
    this.deciding.add(name);
    try {
      const r = this.truth(this.scope.conditions[name], `Condition ${name}`);
      this.decided.set(name, r);
      return r;
    } finally {
      this.deciding.delete(name);
    }
  }

  private truth(node: unknown, where: string): boolean {
    const fn = intrinsicName(node);
    if (fn === undefined || !CONDITION_FUNCTIONS.has(fn)) {
      throw new TemplateError(`${where} must be Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition`);
    }
    const arg = (node as Record<string, unknown>)[fn];
    switch (fn) {
      case 'Condition':
        if (typeof arg !== 'string') throw new TemplateError(`${where}: Condition takes the name of a condition`);
        return this.condition(arg);
      case 'Fn::Equals': {
        const [a, b] = this.list(arg, 2, 2, fn);
        return JSON.stringify(this.value(a)) === JSON.stringify(this.value(b));
      }
      case 'Fn::Not':
        return !this.truth(this.list(arg, 1, 1, fn)[0], where);
      case 'Fn::And':
        return this.list(arg, 2, 10, fn).every((c) => this.truth(c, where));
      default:
        return this.list(arg, 2, 10, fn).some((c) => this.truth(c, where));
    }
  }

  private list(arg: unknown, min: number, max: number, fn: string): unknown[] {
    if (!Array.isArray(arg) || arg.length < min || arg.length > max) {
      throw new TemplateError(
        min === max ? `${fn} takes a list of ${min} element${min > 1 ? 's' : ''}` : `${fn} takes a list of ${min} to ${max} elements`,
      );
    }
    return arg;
  }

  private call(fn: string, arg: unknown): unknown {
    switch (fn) {
      case 'Ref': {
        if (typeof arg !== 'string') throw new TemplateError('Ref takes the name of a parameter');
        if (arg === 'AWS::NoValue') return NO_VALUE;
        const v = this.scope.values.get(arg);
        // AWS's words for a parameter neither given nor defaulted.
        if (v === undefined) throw new TemplateError(`Cannot resolve reference value: ${arg}`);
        return v;
      }
      case 'Fn::Join': {
        const [delimiter, items] = this.list(arg, 2, 2, fn);
        if (typeof delimiter !== 'string') throw new TemplateError('Fn::Join: the delimiter must be a string');
        const list = this.value(items);
        if (!Array.isArray(list)) throw new TemplateError('Fn::Join: the second element must be a list');
        return list.map((v, i) => this.string(v, `Fn::Join element ${i}`)).join(delimiter);
      }
      case 'Fn::Select': {
        const [index, items] = this.list(arg, 2, 2, fn);
        const i = Number(this.value(index));
        const list = this.value(items);
        if (!Array.isArray(list)) throw new TemplateError('Fn::Select: the second element must be a list');
        if (!Number.isInteger(i) || i < 0 || i >= list.length) {
          throw new TemplateError(`Fn::Select: index ${String(this.value(index))} is outside the list of ${list.length}`);
        }
        return list[i];
      }
      case 'Fn::Split': {
        const [delimiter, source] = this.list(arg, 2, 2, fn);
        if (typeof delimiter !== 'string' || delimiter === '')
          throw new TemplateError('Fn::Split: the delimiter must be a non-empty string');
        return this.string(source, 'Fn::Split source').split(delimiter);
      }
      case 'Fn::Sub':
        return this.sub(arg);
      case 'Fn::FindInMap': {
        const [map, top, second] = this.list(arg, 3, 3, fn).map((k, i) => this.string(k, `Fn::FindInMap key ${i}`));
        const level1 = this.scope.mappings[map!];
        const level2 = isObject(level1) ? level1[top!] : undefined;
        const v = isObject(level2) ? level2[second!] : undefined;
        if (v === undefined) throw new TemplateError(`Fn::FindInMap: no value for ${map} / ${top} / ${second} in Mappings`);
        return v;
      }
      case 'Fn::If': {
        const [name, then, otherwise] = this.list(arg, 3, 3, fn);
        if (typeof name !== 'string') throw new TemplateError('Fn::If: the first element must name a condition');
        return this.value(this.condition(name) ? then : otherwise);
      }
      default:
        // Condition functions outside Conditions and Fn::If give their truth as a value.
        return this.truth({ [fn]: arg }, fn);
    }
  }

  private sub(arg: unknown): string {
    let text: unknown = arg;
    let vars: Record<string, unknown> = {};
    if (Array.isArray(arg)) {
      const [t, v] = this.list(arg, 2, 2, 'Fn::Sub');
      if (!isObject(v)) throw new TemplateError('Fn::Sub: the second element must be a map of variables');
      text = t;
      vars = v;
    }
    if (typeof text !== 'string') throw new TemplateError('Fn::Sub takes a string, or a string and a map of variables');
    return text.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
      if (name.startsWith('!')) return `\${${name.slice(1)}}`;
      if (Object.hasOwn(vars, name)) return this.string(vars[name], `Fn::Sub variable ${name}`);
      const v = this.scope.values.get(name);
      if (v !== undefined) return v;
      // A policy variable stays for the policy engine.
      if (/^(iot|aws):/.test(name)) return whole;
      throw new TemplateError(`Cannot resolve reference value: ${name}`);
    });
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
