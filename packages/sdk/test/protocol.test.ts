/**
 * The shared protocol module: topic builders and parsers agree for every shadow, jobs and
 * provisioning topic, OTA documents parse, and the module stays pure (no mqtt, nothing outside it).
 * Also the pure parts of the connection: backoff, topic matching and custom-auth user names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as protocol from '@thicket/sdk/protocol';
import { backoffDelay, customAuthUsername, mqttOptions, topicMatches } from '@thicket/sdk';
import { importCircles } from '../../server/test/import-circles.js';

const {
  SHADOW_TOPIC_OPS,
  shadowTopic,
  parseShadowTopic,
  jobsTopic,
  jobExecutionTopic,
  parseJobsTopic,
  jobsTopicThing,
  certificatesTopic,
  provisionTopic,
  parseProvisioningTopic,
  parseOtaDocument,
  OtaDocumentError,
} = protocol;

test('shadow topics: every operation of classic and named shadows round-trips; other topics do not parse', () => {
  for (const op of SHADOW_TOPIC_OPS) {
    assert.equal(shadowTopic('t1', op), `$aws/things/t1/shadow/${op}`);
    assert.deepEqual(parseShadowTopic(shadowTopic('t1', op)), { thingName: 't1', op });
    assert.equal(shadowTopic('t1', op, 'cfg'), `$aws/things/t1/shadow/name/cfg/${op}`);
    assert.deepEqual(parseShadowTopic(shadowTopic('t1', op, 'cfg')), { thingName: 't1', shadowName: 'cfg', op });
  }
  for (const t of [
    '$aws/things/t1/shadow',
    '$aws/things/t1/shadow/update/x',
    '$aws/things/t1/shadow/name/cfg',
    '$aws/things//shadow/get',
    'things/t1/shadow/get',
    '$aws/things/t1/jobs/get',
  ])
    assert.equal(parseShadowTopic(t), undefined, t);
  assert.match(protocol.shadowAddressError('bad name')!, /Invalid thing name/);
  assert.equal(protocol.shadowAddressError('ok', '$package'), undefined);
});

test('jobs topics: requests, answers and notifications round-trip', () => {
  assert.equal(jobsTopic('t', 'start-next', 'accepted'), '$aws/things/t/jobs/start-next/accepted');
  assert.equal(jobsTopic('t', 'notify-next'), '$aws/things/t/jobs/notify-next');
  assert.equal(jobExecutionTopic('t', '$next', 'get', 'rejected'), '$aws/things/t/jobs/$next/get/rejected');
  const cases: Array<[string, unknown]> = [
    ['$aws/things/t/jobs/get', { thingName: 't', op: 'get' }],
    ['$aws/things/t/jobs/get/accepted', { thingName: 't', op: 'get', response: 'accepted' }],
    ['$aws/things/t/jobs/start-next/rejected', { thingName: 't', op: 'start-next', response: 'rejected' }],
    ['$aws/things/t/jobs/notify', { thingName: 't', op: 'notify' }],
    ['$aws/things/t/jobs/notify-next', { thingName: 't', op: 'notify-next' }],
    ['$aws/things/t/jobs/j1/get', { thingName: 't', op: 'describe', jobId: 'j1' }],
    ['$aws/things/t/jobs/$next/get/accepted', { thingName: 't', op: 'describe', jobId: '$next', response: 'accepted' }],
    ['$aws/things/t/jobs/j1/update', { thingName: 't', op: 'update', jobId: 'j1' }],
    ['$aws/things/t/jobs/j1/update/rejected', { thingName: 't', op: 'update', jobId: 'j1', response: 'rejected' }],
    ['$aws/things/t/jobs/j1/cancel', undefined],
    ['$aws/things/t/jobs/notify/accepted', undefined],
    ['$aws/things/t/jobs/get/other', undefined],
    ['$aws/things/t/shadow/get', undefined],
  ];
  for (const [topic, expected] of cases) assert.deepEqual(parseJobsTopic(topic), expected, topic);
  assert.equal(jobsTopicThing('$aws/things/t/jobs/j1/cancel'), 't', 'the thing of an invalid jobs topic, to answer InvalidTopic');
});

test('provisioning topics round-trip in both formats', () => {
  assert.equal(certificatesTopic('create'), '$aws/certificates/create/json');
  assert.equal(certificatesTopic('create-from-csr', 'cbor', 'accepted'), '$aws/certificates/create-from-csr/cbor/accepted');
  assert.equal(provisionTopic('tpl', 'json', 'rejected'), '$aws/provisioning-templates/tpl/provision/json/rejected');
  assert.deepEqual(parseProvisioningTopic('$aws/certificates/create/json'), { op: 'create', format: 'json' });
  assert.deepEqual(parseProvisioningTopic('$aws/certificates/create-from-csr/cbor/rejected'), {
    op: 'create-from-csr',
    format: 'cbor',
    response: 'rejected',
  });
  assert.deepEqual(parseProvisioningTopic('$aws/provisioning-templates/tpl/provision/json/accepted'), {
    op: 'provision',
    templateName: 'tpl',
    format: 'json',
    response: 'accepted',
  });
  for (const t of ['$aws/certificates/create/xml', '$aws/certificates/create/json/other', '$aws/provisioning-templates//provision/json'])
    assert.equal(parseProvisioningTopic(t), undefined, t);
});

test('OTA documents: a files list, or url and sha256 at the top level; malformed ones are refused with the reason', () => {
  const sha = 'AB'.repeat(32);
  assert.deepEqual(parseOtaDocument({ operation: 'ota', files: [{ url: 'https://h/fw/a.bin?sig=1', sha256: sha, size: '10' }] }), [
    { url: 'https://h/fw/a.bin?sig=1', sha256: sha.toLowerCase(), size: 10, fileName: 'a.bin' },
  ]);
  assert.deepEqual(parseOtaDocument({ url: 'https://h/_thicket/files/fw-1.bin/content?x=1', sha256: sha }), [
    { url: 'https://h/_thicket/files/fw-1.bin/content?x=1', sha256: sha.toLowerCase(), fileName: 'fw-1.bin' },
  ]);
  const refused: Array<[unknown, RegExp]> = [
    [{ operation: 'ota' }, /names no file/],
    [{ files: [] }, /files is empty/],
    [{ url: 'https://h/a', sha256: 'xyz' }, /sha256 must be 64 hex digits/],
    [{ url: 'https://h/a', sha256: sha, size: -1 }, /size must be a whole number/],
    [{ url: 'https://h/a', sha256: sha, fileName: '../etc/passwd' }, /plain file name/],
    [
      {
        files: [
          { url: 'https://h/a', sha256: sha },
          { url: 'https://g/a', sha256: sha },
        ],
      },
      /same fileName/,
    ],
  ];
  for (const [doc, message] of refused)
    assert.throws(
      () => parseOtaDocument(doc),
      (e: unknown) => e instanceof OtaDocumentError && message.test(e.message),
    );
});

test('backoff grows exponentially from min to max, jittered in between', () => {
  const o = { minDelayMs: 100, maxDelayMs: 1000 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, o, () => 1)),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.deepEqual(
    [0, 3, 10].map((a) => backoffDelay(a, o, () => 0)),
    [100, 100, 100],
  );
  assert.equal(
    backoffDelay(2, o, () => 0.5),
    250,
  );
});

test('topic filters match as MQTT says, wildcards never matching $ topics at the first level', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a/b', 'a/b', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', '$aws/x', false],
    ['+/x', '$aws/x', false],
    ['$aws/things/+/jobs/+/accepted', '$aws/things/t/jobs/get/accepted', true],
    ['$aws/things/+/jobs/+/accepted', '$aws/things/t/jobs/j/get/accepted', false],
  ];
  for (const [f, t, expected] of cases) assert.equal(topicMatches(f, t), expected, `${f} ~ ${t}`);
});

test('custom authentication goes in the user name query as AWS expects; 443 offers the right ALPN', () => {
  assert.equal(
    customAuthUsername({ username: 'dev', authorizerName: 'my auth', tokenKeyName: 'tok', token: 'a&b', tokenSignature: 's+/=' }),
    'dev?x-amz-customauthorizer-name=my%20auth&x-amz-customauthorizer-signature=s%2B%2F%3D&tok=a%26b',
  );
  assert.equal(customAuthUsername({ username: 'u?SDK=x', authorizerName: 'a' }), 'u?SDK=x&x-amz-customauthorizer-name=a');
  const custom = mqttOptions({ url: 'mqtts://example.com:443', clientId: 'c', customAuth: { authorizerName: 'a', token: 't' } });
  assert.deepEqual(custom.options.ALPNProtocols, ['mqtt']);
  const cert = mqttOptions({ url: 'mqtts://example.com:443', clientId: 'c', tls: { cert: 'C', key: 'K' } });
  assert.deepEqual(cert.options.ALPNProtocols, ['x-amzn-mqtt-ca']);
  assert.equal(mqttOptions({ url: 'mqtts://example.com', clientId: 'c', tls: { cert: 'C', key: 'K' } }).options.ALPNProtocols, undefined);
  assert.equal(mqttOptions({ url: 'wss://example.com', clientId: 'c' }).url, 'wss://example.com/mqtt');
  const persistent = mqttOptions({ url: 'mqtt://h', clientId: 'c', session: { persistent: true, expirySeconds: 7200 } }).options;
  assert.deepEqual([persistent.clean, persistent.properties?.sessionExpiryInterval], [false, 7200]);
  assert.equal(mqttOptions({ url: 'mqtt://h', clientId: 'c', protocolVersion: 4, session: { persistent: true } }).options.clean, false);
  assert.throws(() => mqttOptions({ url: 'http://h', clientId: 'c' }), /unsupported protocol/);
});

test('the protocol module is pure: it imports nothing but its own files and the dependency-free shadow documents, and the SDK has no import circles', () => {
  const dir = join(import.meta.dirname, '..', 'src', 'protocol');
  for (const name of readdirSync(dir)) {
    const text = readFileSync(join(dir, name), 'utf8');
    for (const m of text.matchAll(/from\s+'([^']+)'/g))
      assert.match(m[1]!, /^(\.\/[a-z-]+\.js|@thicket\/shadow)$/, `${name} imports ${m[1]}`);
  }
  assert.deepEqual(importCircles(join(import.meta.dirname, '..', 'src')), []);
});
