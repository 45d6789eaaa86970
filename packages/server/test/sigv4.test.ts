/** SigV4 verification against requests signed by the real AWS SDK clients. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { IoTClient, DescribeThingCommand, CreateThingCommand, ListAttachedPoliciesCommand } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { verifySigV4, type SignedRequest } from '../src/aws/sigv4.js';
import { AwsError } from '../src/aws/errors.js';

const KEY = { accessKeyId: 'TKIAEXAMPLEEXAMPLE01', secretAccessKey: 'secret-for-tests-only-0123456789abcdefgh' };

/** Captures what SDK clients send, answers 200 {}. */
async function capture(send: (endpoint: string) => Promise<unknown>): Promise<SignedRequest[]> {
  const seen: SignedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, rawUrl: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await send(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.close();
  }
  return seen;
}

const lookup = (id: string): string | undefined => (id === KEY.accessKeyId ? KEY.secretAccessKey : undefined);

async function rejects(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof AwsError, String(err));
    assert.equal(err.code, code);
    assert.equal(err.status, 403);
    if (message) assert.match(err.message, message);
    return true;
  });
}

test('requests signed by @aws-sdk/client-iot and client-iot-data-plane verify, with region and service from the scope', async () => {
  const reqs = await capture(async (endpoint) => {
    const iot = new IoTClient({ endpoint, region: 'eu-west-1', credentials: KEY });
    await iot.send(new DescribeThingCommand({ thingName: 'lamp' }));
    await iot.send(new CreateThingCommand({ thingName: 'lamp-2', attributePayload: { attributes: { room: 'kitchen' } } }));
    await iot.send(new ListAttachedPoliciesCommand({ target: 'arn:aws:iot:eu-west-1:123456789012:cert/abc', recursive: true }));
    const data = new IoTDataPlaneClient({ endpoint, region: 'us-east-1', credentials: KEY });
    await data.send(new PublishCommand({ topic: 'dev/lamp/cmd', qos: 1, payload: Buffer.from('on') }));
  });
  assert.equal(reqs.length, 4);
  const ids = await Promise.all(reqs.map((r) => verifySigV4(r, lookup)));
  assert.deepEqual(
    ids.map((i) => [i.region, i.service]),
    [
      ['eu-west-1', 'iot'],
      ['eu-west-1', 'iot'],
      ['eu-west-1', 'iot'],
      ['us-east-1', 'iotdata'],
    ],
  );
  assert.ok(reqs[2]!.rawUrl.includes('%3A'), 'the ARN path label arrives percent-encoded');
});

test('tampering, a wrong secret, an unknown key, a missing header and an old date are refused with the AWS errors', async () => {
  const [req] = await capture(async (endpoint) => {
    const iot = new IoTClient({ endpoint, region: 'us-east-1', credentials: KEY });
    await iot.send(new CreateThingCommand({ thingName: 'lamp', attributePayload: { attributes: { a: '1' } } }));
  });
  const r = req!;
  await rejects(verifySigV4({ ...r, body: Buffer.from(r.body!.toString().replace('"1"', '"2"')) }, lookup), 'InvalidSignatureException');
  await rejects(verifySigV4({ ...r, rawUrl: r.rawUrl.replace('lamp', 'lamp2') }, lookup), 'InvalidSignatureException');
  await rejects(
    verifySigV4(r, () => 'not-the-secret'),
    'InvalidSignatureException',
    /does not match/,
  );
  await rejects(
    verifySigV4(r, () => undefined),
    'UnrecognizedClientException',
  );
  const { authorization: _dropped, ...unsigned } = r.headers;
  await rejects(verifySigV4({ ...r, headers: unsigned }, lookup), 'MissingAuthenticationTokenException');
  await rejects(verifySigV4(r, lookup, Date.now() + 16 * 60 * 1000), 'InvalidSignatureException', /Signature expired/);
  await rejects(verifySigV4(r, lookup, Date.now() - 16 * 60 * 1000), 'InvalidSignatureException', /not yet current/);
  await rejects(
    verifySigV4({ ...r, headers: { ...r.headers, authorization: 'AWS4-HMAC-SHA256 garbage' } }, lookup),
    'IncompleteSignatureException',
  );
  assert.ok(await verifySigV4(r, lookup));
});
