/**
 * Hostile and malformed HTTP input on the API ports: every answer is a 4xx in the AWS shape (so the
 * SDKs raise a named exception), nothing is logged above debug, and no name reaches a handler
 * without passing AWS's pattern.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import {
  CreatePolicyCommand,
  CreateThingCommand,
  DeleteThingCommand,
  DeleteThingGroupCommand,
  DescribeThingCommand,
  IoTClient,
} from '@aws-sdk/client-iot';
import {
  DescribeJobExecutionCommand,
  GetPendingJobExecutionsCommand,
  IoTJobsDataPlaneClient,
  StartNextPendingJobExecutionCommand,
} from '@aws-sdk/client-iot-jobs-data-plane';
import { GetThingShadowCommand, IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { resolveConfig, startServer, type ThicketServer } from '@thicket/server';
import { awsError, tempDir } from './helpers.js';

let server: ThicketServer;
let dataDir: string;
const logLines: Array<{ level: number; msg: string }> = [];
let base: string;

before(async () => {
  dataDir = tempDir();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  const config = resolveConfig({ host: '127.0.0.1', mqttPort: 0, mqttsPort: 0, httpPort: 0, httpsPort: 0, dataDir, logLevel: 'debug' });
  server = await startServer(config, pino({ level: 'debug' }, sink));
  base = `http://127.0.0.1:${server.ports.http}`;
});
after(async () => {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const clients = () => {
  const opts = { endpoint: base, region: 'us-east-1', credentials: server.adminKey };
  return { iot: new IoTClient(opts), jobs: new IoTJobsDataPlaneClient(opts), data: new IoTDataPlaneClient(opts) };
};

interface RawAnswer {
  status: number;
  errorType: string | undefined;
  body: { __type?: string; message?: string };
}

/** A request with the path sent byte for byte as given (no URL normalisation by a client library). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.ports.http, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({
          status: res.statusCode!,
          errorType: res.headers['x-amzn-errortype'] as string | undefined,
          body: text ? JSON.parse(text) : {},
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A real access key id with a made-up signature: what a scanner or a broken client sends. */
function bogusSignature(): Record<string, string> {
  const now = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return {
    authorization: `AWS4-HMAC-SHA256 Credential=${server.adminKey.accessKeyId}/${now.slice(0, 8)}/us-east-1/iot/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
    'x-amz-date': now,
  };
}

function assertAwsShape(a: RawAnswer, status: number, type: string): void {
  assert.equal(a.status, status, JSON.stringify(a.body));
  assert.equal(a.errorType, type);
  assert.equal(a.body.__type, type);
  assert.equal(typeof a.body.message, 'string');
}

const errorLogs = () => logLines.filter((l) => l.level >= 50);

test('malformed percent-escapes in the query are a 400 in the AWS shape, not a 500 with a stack trace', async () => {
  for (const query of ['nextToken=%zz', 'x=%', '%c0%ae', 'maxResults=1&nextToken=%E0%A4%A']) {
    const a = await raw('GET', `/things?${query}`, bogusSignature());
    assertAwsShape(a, 400, 'InvalidRequestException');
    assert.match(a.body.message!, /malformed percent-escape/);
  }
  assert.deepEqual(errorLogs(), []);
});

test('malformed URLs, over-long path labels and over-limit bodies get the AWS shape', async () => {
  for (const path of ['/things/%zz', '/things/a%c0%aeb', '/things/%']) {
    const a = await raw('GET', path, bogusSignature());
    assertAwsShape(a, 400, 'InvalidRequestException');
    assert.match(a.body.message!, /malformed percent-escape/);
  }
  const long = await raw('GET', `/things/${'a'.repeat(5000)}`, bogusSignature());
  assertAwsShape(long, 400, 'InvalidRequestException');
  const big = await raw(
    'POST',
    '/things/big',
    { ...bogusSignature(), 'content-type': 'application/json' },
    Buffer.alloc(3 * 1024 * 1024, 0x20),
  );
  assertAwsShape(big, 413, 'RequestEntityTooLargeException');
  const unknown = await raw('GET', '/no/such/operation');
  assertAwsShape(unknown, 404, 'UnknownOperationException');
  assert.deepEqual(errorLogs(), []);
});

test('the SDK raises named exceptions for an over-long name and an over-limit body', async () => {
  const { iot } = clients();
  const long = await awsError(iot.send(new DescribeThingCommand({ thingName: 'x'.repeat(5000) })));
  assert.equal(long.name, 'InvalidRequestException');
  const big = await awsError(iot.send(new CreatePolicyCommand({ policyName: 'big', policyDocument: 'x'.repeat(2 * 1024 * 1024) })));
  assert.equal(big.name, 'RequestEntityTooLargeException');
  assert.equal(big.status, 413);
  iot.destroy();
});

const HOSTILE = ['../../etc/passwd', '%00', 'a\r\nX-Injected: 1', '\u0000', 'thing name', 'a/b', '..', '$next'];

test('hostile names are refused by every route as AWS does (InvalidRequestException naming the member)', async () => {
  const { iot, jobs, data } = clients();
  await iot.send(new CreateThingCommand({ thingName: 'legit' }));
  for (const name of HOSTILE) {
    const expected = (member: string) => (e: { name: string; message: string }) => {
      assert.equal(e.name, 'InvalidRequestException', `${member} ${JSON.stringify(name)}: ${e.message}`);
      assert.match(e.message, new RegExp(`at '${member}' failed to satisfy constraint`));
    };
    expected('thingName')(await awsError(iot.send(new DeleteThingCommand({ thingName: name }))));
    expected('thingGroupName')(await awsError(iot.send(new DeleteThingGroupCommand({ thingGroupName: name }))));
    expected('thingName')(await awsError(jobs.send(new GetPendingJobExecutionsCommand({ thingName: name }))));
    expected('thingName')(await awsError(jobs.send(new StartNextPendingJobExecutionCommand({ thingName: name }))));
    expected('thingName')(await awsError(data.send(new GetThingShadowCommand({ thingName: name }))));
  }
  // A hostile job id on an otherwise valid thing.
  const bad = await awsError(jobs.send(new DescribeJobExecutionCommand({ thingName: 'legit', jobId: '../x' })));
  assert.equal(bad.name, 'InvalidRequestException');
  assert.match(bad.message, /at 'jobId'/);
  // The legitimate names still work, and the jobs data plane's `$next` is not a hostile job id.
  assert.deepEqual((await jobs.send(new GetPendingJobExecutionsCommand({ thingName: 'legit' }))).queuedJobs, []);
  const next = await jobs.send(new DescribeJobExecutionCommand({ thingName: 'legit', jobId: '$next' }));
  assert.equal(next.execution, undefined);
  await iot.send(new DeleteThingCommand({ thingName: 'legit' }));
  for (const c of [iot, jobs, data]) c.destroy();
  assert.deepEqual(errorLogs(), []);
});
