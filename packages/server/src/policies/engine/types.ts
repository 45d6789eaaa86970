/**
 * Public shapes of the policy engine. A parsed document is normalised (every list is an array, every
 * condition value a string) so the compiler never has to second-guess its input.
 */

/** Policy language version. Only 2012-10-17 knows policy variables; 2008-10-17 treats `${...}` as text. */
export type PolicyVersion = '2012-10-17' | '2008-10-17';

export type PolicyEffect = 'Allow' | 'Deny';

/** operator (e.g. `ForAnyValue:StringLikeIfExists`) → condition key → values (OR-ed). */
export type PolicyCondition = Record<string, Record<string, string[]>>;

export interface PolicyStatement {
  Sid?: string;
  Effect: PolicyEffect;
  /** Exactly one of Action / NotAction is set. */
  Action?: string[];
  NotAction?: string[];
  /** Exactly one of Resource / NotResource is set. */
  Resource?: string[];
  NotResource?: string[];
  Condition?: PolicyCondition;
}

export interface PolicyDocument {
  Version: PolicyVersion;
  Id?: string;
  Statement: PolicyStatement[];
}

/**
 * Per-connection values for `${name}` placeholders, keyed by the name without `${}`:
 * `iot:ClientId`, `iot:Connection.Thing.Attributes[room]`, `iot:Certificate.Subject.CommonName`, ...
 * An array stands for a multi-valued attribute: placeholders take its first element, conditions see all.
 */
export type PolicyVariables = Record<string, string | string[] | undefined>;

/**
 * Request-time condition keys (`aws:SourceIp`, `iot:ConnectAttributes`, `aws:CurrentTime`, ...).
 * Numbers given for date keys are epoch seconds, as `aws:EpochTime` is.
 */
export type ConditionContext = Record<string, string | string[] | number | boolean | undefined>;

/** `deny` = an explicit Deny statement matched; `default-deny` = nothing allowed it. */
export type Decision = 'allow' | 'deny' | 'default-deny';

export interface CompiledPolicySet {
  evaluate(action: string, resource: string, context?: ConditionContext): Decision;
  isAllowed(action: string, resource: string, context?: ConditionContext): boolean;
  /** Whether decisions for `action` depend on the resource only (no condition applies), so callers may cache them. */
  cacheable(action: string): boolean;
}

export interface ParseOptions {
  /** AWS counts a document's characters excluding whitespace; 2048 for IoT policies and authorizer documents. */
  maxChars?: number;
}

export interface CompileOptions {
  /**
   * AWS refuses to substitute certificate variables whose value holds `* $ + ? #`; this applies the
   * same refusal (for `+ # * ?`) to every variable, so e.g. a client id of `+` can never appear in a
   * `topicfilter/` resource. Off by default because AWS substitutes client ids verbatim.
   */
  strictVariableValues?: boolean;
  /** Clock for `aws:CurrentTime` / `aws:EpochTime` when the context doesn't give them (ms since epoch). */
  now?: () => number;
  /** Bound of the (action, resource) → decision memo; 0 disables it. */
  memoSize?: number;
}
