/** AWS IoT policy engine: parse, compile per connection, evaluate per request. Pure logic, no I/O. */
export { ALL_KNOWN_ACTIONS, KNOWN_ACTIONS } from './actions.js';
export { iotResourceArn, type IotResourceKind } from './arn.js';
export { compilePolicies } from './compile.js';
export { PolicyDocumentError } from './errors.js';
export { DEFAULT_MAX_POLICY_CHARS, parsePolicyDocument, validatePolicyDocument } from './parse.js';
export type {
  CompiledPolicySet,
  CompileOptions,
  ConditionContext,
  Decision,
  ParseOptions,
  PolicyCondition,
  PolicyDocument,
  PolicyEffect,
  PolicyStatement,
  PolicyVariables,
  PolicyVersion,
} from './types.js';
