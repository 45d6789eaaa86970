/** The table settings of the `rules` configuration section: databases, retention, query bounds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '@thicket/server';

test('defaults: 30 days of retention, 10 s queries, 10,000 rows, no PostgreSQL database', () => {
  const c = resolveConfig({});
  assert.deepEqual(c.rules.tables, { databases: {}, retentionDays: 30, queryTimeoutSeconds: 10, queryMaxRows: 10_000 });
});

test('databases by URL or mapping; numbers from strings (environment values)', () => {
  const c = resolveConfig(
    {
      rules: {
        retentionDays: '7',
        queryTimeoutSeconds: 2,
        databases: {
          analytics: 'postgres://u:p@db:5432/t',
          plant: { url: 'postgresql://db/t', accounts: ['210987654321'], retentionDays: 0 },
        },
      },
    },
    // A later source adds a database and keeps the earlier ones.
    { rules: { databases: { extra: 'postgres://db/x' } } },
  );
  assert.equal(c.rules.tables.retentionDays, 7);
  assert.equal(c.rules.tables.queryTimeoutSeconds, 2);
  assert.deepEqual(Object.keys(c.rules.tables.databases).sort(), ['analytics', 'extra', 'plant']);
  assert.deepEqual(c.rules.tables.databases.plant, { url: 'postgresql://db/t', accounts: ['210987654321'], retentionDays: 0 });
});

test('bad values are refused with the setting named', () => {
  const bad: [unknown, RegExp][] = [
    [{ retentionDays: -1 }, /rules.retentionDays: "-1" is not a whole number from 0 to 36500/],
    [{ queryTimeoutSeconds: 0 }, /rules.queryTimeoutSeconds/],
    [{ queryMaxRows: 'many' }, /rules.queryMaxRows/],
    [{ databases: { analytics: 'mysql://db/x' } }, /rules.databases.analytics.url: only postgres:\/\/ URLs are supported/],
    [{ databases: { analytics: 'not a url' } }, /rules.databases.analytics.url: the value is not a URL/],
    [{ databases: { 'a/b': 'postgres://db/x' } }, /rules.databases: "a\/b" is not a database name/],
    [{ databases: { ok1: { url: 'postgres://db/x', accounts: ['me'] } } }, /accounts: "me" is not an account id/],
    [{ databases: { ok1: { url: 'postgres://db/x', password: 'x' } } }, /unknown setting "password"/],
    [{ databases: ['postgres://db/x'] }, /rules.databases: expected a mapping/],
  ];
  for (const [rules, expected] of bad) assert.throws(() => resolveConfig({ rules }), expected, JSON.stringify(rules));
});
