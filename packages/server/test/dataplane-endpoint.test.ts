/**
 * DescribeEndpoint answers every endpoint type with this server's own address, through
 * @aws-sdk/client-iot and `aws iot describe-endpoint`; the address it gives is one the data-plane
 * SDK can use as `https://<address>` straight away.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Agent } from 'node:https';
import { promisify } from 'node:util';
import { DescribeEndpointCommand, IoTClient } from '@aws-sdk/client-iot';
import { GetRetainedMessageCommand, IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { awsError, startTestServer, type TestServer } from './helpers.js';

const run = promisify(execFile);
const TYPES = ['iot:Data', 'iot:Data-ATS', 'iot:CredentialProvider', 'iot:Jobs'];
let server: TestServer;
let iot: IoTClient;

before(async () => {
  server = await startTestServer({ dev: true });
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
});
after(async () => {
  iot.destroy();
  await server.close();
});

test("every endpoint type, and no type, is answered with this server's host and HTTPS port", async () => {
  const expected = `127.0.0.1:${server.ports.https}`;
  for (const endpointType of [...TYPES, undefined]) {
    const out = await iot.send(new DescribeEndpointCommand({ endpointType }));
    assert.equal(out.endpointAddress, expected, String(endpointType));
  }
  const bad = await awsError(iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Nope' })));
  assert.deepEqual([bad.name, bad.status], ['InvalidRequestException', 400]);
  assert.match(bad.message, /endpointType must be one of iot:Data, iot:Data-ATS, iot:CredentialProvider, iot:Jobs, not 'iot:Nope'/);
});

test('aws iot describe-endpoint for each endpoint type', async () => {
  const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: server.credentialsPath, AWS_CONFIG_FILE: '/dev/null', AWS_PROFILE: 'default' };
  const endpoint = ['--endpoint-url', `http://127.0.0.1:${server.ports.http}`, '--region', 'us-east-1', '--output', 'json'];
  const answers = await Promise.all(
    TYPES.map(
      async (t) =>
        JSON.parse((await run('aws', ['iot', 'describe-endpoint', '--endpoint-type', t, ...endpoint], { env })).stdout) as object,
    ),
  );
  for (const a of answers) assert.deepEqual(a, { endpointAddress: `127.0.0.1:${server.ports.https}` });
  const failed = (await run('aws', ['iot', 'describe-endpoint', '--endpoint-type', 'iot:Other', ...endpoint], { env }).catch(
    (e: unknown) => e,
  )) as { stderr: string };
  assert.match(failed.stderr, /InvalidRequestException/);
});

test('the iot:Data-ATS address works as the data-plane endpoint over HTTPS', async () => {
  const { endpointAddress } = await iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' }));
  const data = new IoTDataPlaneClient({
    endpoint: `https://${endpointAddress}`,
    region: 'us-east-1',
    credentials: server.adminKey,
    requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: server.pki.caCertPem }) }),
  });
  try {
    await data.send(new PublishCommand({ topic: 'ats/check', payload: Buffer.from('over-tls'), retain: true, qos: 1 }));
    const m = await data.send(new GetRetainedMessageCommand({ topic: 'ats/check' }));
    assert.equal(Buffer.from(m.payload!).toString(), 'over-tls');
  } finally {
    data.destroy();
  }
});
