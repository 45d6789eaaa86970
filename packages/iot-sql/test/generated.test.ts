// The committed parser must be what peggy generates from the committed grammar
// (regenerate with `npm run generate -w packages/iot-sql`).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import peggy from 'peggy';

const root = new URL('../', import.meta.url);
const START_RULES = ['Statement', 'Template'];

test('src/generated/parser.js is up to date with src/grammar.peggy', () => {
  const grammar = readFileSync(new URL('src/grammar.peggy', root), 'utf8');
  const committed = readFileSync(new URL('src/generated/parser.js', root), 'utf8');
  const generated = peggy.generate(grammar, {
    output: 'source',
    format: 'es',
    allowedStartRules: START_RULES,
    grammarSource: 'src/grammar.peggy',
  });
  assert.ok(generated === committed, 'the generated parser is stale: run `npm run generate -w packages/iot-sql` and commit the result');
});

test('src/generated/parser.d.ts declares the same start rules', () => {
  const dts = readFileSync(new URL('src/generated/parser.d.ts', root), 'utf8');
  assert.match(dts, new RegExp(`export type StartRuleNames = ${START_RULES.map((r) => `"${r}"`).join(' \\| ')};`));
});
