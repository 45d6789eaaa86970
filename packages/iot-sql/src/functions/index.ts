// The whole function library by lower-case name (function names are case-insensitive in SQL).
import { hashFunctions } from './hashes.js';
import { mathFunctions } from './math.js';
import { miscFunctions } from './misc.js';
import type { FunctionTable } from './spec.js';
import { stringFunctions } from './strings.js';
import { timeFunctions } from './time.js';

export type { FunctionSpec, FunctionTable } from './spec.js';

export const FUNCTIONS: FunctionTable = Object.assign(
  Object.create(null) as FunctionTable,
  mathFunctions,
  stringFunctions,
  hashFunctions,
  timeFunctions,
  miscFunctions,
);
