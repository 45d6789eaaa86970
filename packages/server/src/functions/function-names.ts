/**
 * Function names and ARNs as Lambda forms them: `arn:aws:lambda:<region>:<account>:function:<name>`,
 * a name of 1–64 letters, digits, hyphens and underscores. Thicket has no versions or aliases, so
 * the only qualifier a reference may carry is `$LATEST`.
 */
import type { Namespace } from '../accounts/namespace.js';
import { invalidRequest } from '../aws/errors.js';

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const ARN =
  /^arn:aws[a-zA-Z-]*:lambda:([a-z]{2}(?:-gov)?-[a-z]+-\d{1,2}):(\d{12}):function:([a-zA-Z0-9_-]{1,64})(?::([a-zA-Z0-9$_-]{1,128}))?$/;

export const functionArn = (ns: Namespace, name: string): string => `arn:aws:lambda:${ns.region}:${ns.accountId}:function:${name}`;

/** Lambda's wording for a function name that is not one. */
export function checkFunctionName(name: unknown, field = 'functionName'): string {
  const v = typeof name === 'string' ? name : '';
  const fail = (c: string): never => {
    throw invalidRequest(`1 validation error detected: Value '${v}' at '${field}' failed to satisfy constraint: ${c}`);
  };
  if (typeof name !== 'string') fail('Member must not be null');
  if (v.length < 1) fail('Member must have length greater than or equal to 1');
  if (v.length > 64) fail('Member must have length less than or equal to 64');
  if (!NAME.test(v)) fail('Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+');
  return v;
}

export interface FunctionRef extends Namespace {
  name: string;
  qualifier: string | undefined;
}

/** The parts of a function ARN, or undefined when the text is not one. */
export function parseFunctionArn(text: string): FunctionRef | undefined {
  const m = ARN.exec(text);
  if (!m) return undefined;
  return { region: m[1]!, accountId: m[2]!, name: m[3]!, qualifier: m[4] };
}

/**
 * Why a function reference (ARN or bare name) cannot be called from `ns`, or the function's name:
 * a rule, and an API caller, reach the functions of their own account and region only.
 */
export function resolveFunctionRef(ns: Namespace, ref: string): { name: string } | { refused: string } {
  if (NAME.test(ref)) return { name: ref };
  const p = parseFunctionArn(ref);
  if (!p) return { refused: `'${ref}' is not a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>)` };
  if (p.accountId !== ns.accountId || p.region !== ns.region) {
    return {
      refused: `Function ${ref} belongs to account ${p.accountId} in ${p.region}; only functions of account ${ns.accountId} in ${ns.region} can be invoked from here`,
    };
  }
  if (p.qualifier !== undefined && p.qualifier !== '$LATEST') {
    return { refused: `Function ${ref}: Thicket functions have no versions or aliases; use the unqualified ARN or $LATEST` };
  }
  return { name: p.name };
}
