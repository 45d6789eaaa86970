/**
 * Bad input to the Jobs control plane gets the AWS exception, its HTTP status and a message that
 * names the problem (DESIGN §1.6; reference controlplane §1.2 and §5.1), and changes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AssociateTargetsWithJobCommand,
  CancelJobCommand,
  CreateJobCommand,
  CreateJobTemplateCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  DeleteJobCommand,
  DescribeJobCommand,
  GetJobDocumentCommand,
  ListJobsCommand,
  type CreateJobCommandInput,
} from '@aws-sdk/client-iot';
import { awsError } from './helpers.js';
import { groupArn, jobsServer, thingArn } from './jobs-control-helpers.js';

const ctx = jobsServer({
  async setup({ iot }) {
    await iot.send(new CreateThingCommand({ thingName: 'e-thing' }));
    await iot.send(new CreateThingGroupCommand({ thingGroupName: 'e-group' }));
  },
});

const document = '{"operation":"noop"}';

/** CreateJob with a valid body and `change` applied; resolves to the error (name, status, message). */
function createJob(change: Partial<CreateJobCommandInput>, jobId = 'bad-job') {
  return awsError(ctx.iot.send(new CreateJobCommand({ jobId, targets: [thingArn('e-thing')], document, ...change })));
}

async function expectInvalid(change: Partial<CreateJobCommandInput>, message: RegExp, jobId?: string): Promise<void> {
  const e = await createJob(change, jobId);
  assert.deepEqual([e.name, e.status], ['InvalidRequestException', 400], `${JSON.stringify(change)}: ${e.message}`);
  assert.match(e.message, message);
}

test('an invalid jobId is refused, naming the member and the allowed characters', async () => {
  for (const jobId of ['has space', 'dots.are.not.allowed', 'x'.repeat(65), 'slash/in/it']) {
    await expectInvalid(
      {},
      /Value '.*' at 'jobId' failed to satisfy constraint: Member must (satisfy regular expression pattern: \[a-zA-Z0-9_-\]\+|have length less than or equal to 64)/,
      jobId,
    );
  }
  const ok = await createJob({}, 'x'.repeat(64));
  assert.equal(ok.name, 'no error', '64 characters is the most');
});

test('a duplicate jobId is ResourceAlreadyExistsException (409) with the id and ARN', async () => {
  await ctx.iot.send(new CreateJobCommand({ jobId: 'twice', targets: [thingArn('e-thing')], document }));
  const e = await awsError(ctx.iot.send(new CreateJobCommand({ jobId: 'twice', targets: [thingArn('e-thing')], document })));
  assert.deepEqual([e.name, e.status], ['ResourceAlreadyExistsException', 409]);
  assert.match(e.message, /Job twice already exists/);
  const raw = await ctx.iot
    .send(new CreateJobCommand({ jobId: 'twice', targets: [thingArn('e-thing')], document }))
    .catch((x: unknown) => x);
  assert.deepEqual(
    [(raw as { resourceId?: string }).resourceId, (raw as { resourceArn?: string }).resourceArn],
    ['twice', 'arn:aws:iot:us-east-1:123456789012:job/twice'],
  );
});

test('targets: unknown things and groups are ResourceNotFoundException; non-ARNs, other accounts and empty lists are refused', async () => {
  const thing = await createJob({ targets: [thingArn('e-thing'), thingArn('e-ghost')] }, 'tgt-1');
  assert.deepEqual([thing.name, thing.status], ['ResourceNotFoundException', 404]);
  assert.match(thing.message, /Thing e-ghost cannot be found/);
  const grp = await createJob({ targets: [groupArn('e-ghost-group')] }, 'tgt-2');
  assert.deepEqual([grp.name, grp.status], ['ResourceNotFoundException', 404]);
  assert.match(grp.message, /Thing Group e-ghost-group cannot be found/);

  await expectInvalid({ targets: ['e-thing'] }, /targets must be thing or thing group ARNs, not e-thing/);
  await expectInvalid({ targets: ['arn:aws:iot:us-east-1:123456789012:policy/p'] }, /thing or thing group ARNs, not .*policy\/p/);
  await expectInvalid({ targets: ['arn:aws:s3:::bucket/thing'] }, /thing or thing group ARNs/);
  await expectInvalid({ targets: ['arn:aws:iot:eu-west-1:123456789012:thing/e-thing'] }, /not in this account and region/);
  await expectInvalid({ targets: [] }, /targets must be a non-empty list/);
  for (const jobId of ['tgt-1', 'tgt-2', 'bad-job']) {
    assert.equal((await awsError(ctx.iot.send(new DescribeJobCommand({ jobId })))).status, 404, `${jobId} was not created`);
  }
});

test('the document must be a JSON object of at most 32,768 characters, and exactly one document source is given', async () => {
  await expectInvalid({ document: '{"a":' }, /document is not valid JSON/);
  await expectInvalid({ document: '[1,2]' }, /document must be a JSON object/);
  await expectInvalid({ document: '"text"' }, /document must be a JSON object/);
  const big = JSON.stringify({ blob: 'x'.repeat(32_769 - 11) });
  assert.equal(big.length, 32_769);
  await expectInvalid({ document: big }, /document is 32769 characters long; the most a job document may have is 32768/);
  const fits = JSON.stringify({ blob: 'x'.repeat(32_768 - 11) });
  assert.equal((await createJob({ document: fits }, 'just-fits')).name, 'no error');

  await ctx.iot.send(new CreateJobTemplateCommand({ jobTemplateId: 'e-template', description: 't', document }));
  const templateArn = 'arn:aws:iot:us-east-1:123456789012:jobtemplate/e-template';
  await expectInvalid({ jobTemplateArn: templateArn }, /Exactly one of document, documentSource and jobTemplateArn/);
  await expectInvalid({ document: undefined }, /Exactly one of document, documentSource and jobTemplateArn/);
  const noTemplate = await createJob({ document: undefined, jobTemplateArn: `${templateArn}-missing` });
  assert.deepEqual([noTemplate.name, noTemplate.status], ['ResourceNotFoundException', 404]);
  assert.match(noTemplate.message, /e-template-missing/);
  await expectInvalid(
    { document: undefined, documentSource: 'https://s3.amazonaws.com/bucket/job.json' },
    /documentSource .* is not available here/,
  );
});

test('documentParameters: a placeholder without a value, and keys or values out of bounds, are refused', async () => {
  const withParams = '{"v":"${aws:iot:parameter:version}","c":"${aws:iot:parameter:channel}"}';
  await expectInvalid(
    { document: withParams, documentParameters: { version: '1' } },
    /parameter channel, which documentParameters does not give/,
  );
  await expectInvalid({ document: withParams }, /parameter version/);
  await expectInvalid(
    { document: withParams, documentParameters: { version: '1', channel: 'x', 'bad key': 'y' } },
    /documentParameters key "bad key"/,
  );
  await expectInvalid({ documentParameters: { v: 'x'.repeat(30_721) } }, /documentParameters\.v must be a string of at most 30720/);
  // A value lands inside a JSON string: quotes and backslashes are escaped, not injected.
  await ctx.iot.send(
    new CreateJobCommand({
      jobId: 'escaped',
      targets: [thingArn('e-thing')],
      document: withParams,
      documentParameters: { version: 'a"b\\c', channel: 'beta' },
    }),
  );
  const { document: text } = await ctx.iot.send(new GetJobDocumentCommand({ jobId: 'escaped' }));
  assert.deepEqual(JSON.parse(text!), { v: 'a"b\\c', c: 'beta' });
});

test('rollout, abort, timeout, retry and presigned URL values out of range are refused, naming the member', async () => {
  const cases: Array<[Partial<CreateJobCommandInput>, RegExp]> = [
    [{ jobExecutionsRolloutConfig: { maximumPerMinute: 0 } }, /maximumPerMinute must be a whole number from 1 to 1000, not 0/],
    [{ jobExecutionsRolloutConfig: { maximumPerMinute: 1001 } }, /maximumPerMinute must be a whole number from 1 to 1000, not 1001/],
    [
      {
        jobExecutionsRolloutConfig: {
          exponentialRate: { baseRatePerMinute: 10, incrementFactor: 6, rateIncreaseCriteria: { numberOfNotifiedThings: 5 } },
        },
      },
      /incrementFactor must be a number from 1.1 to 5, not 6/,
    ],
    [
      {
        jobExecutionsRolloutConfig: {
          exponentialRate: { baseRatePerMinute: 10, incrementFactor: 1.55, rateIncreaseCriteria: { numberOfNotifiedThings: 5 } },
        },
      },
      /incrementFactor may have at most 1 decimal place/,
    ],
    [
      { jobExecutionsRolloutConfig: { exponentialRate: { baseRatePerMinute: 10, incrementFactor: 2, rateIncreaseCriteria: {} } } },
      /exactly one of numberOfNotifiedThings and numberOfSucceededThings/,
    ],
    [
      {
        abortConfig: {
          criteriaList: [{ failureType: 'FAILED', action: 'CANCEL', thresholdPercentage: 101, minNumberOfExecutedThings: 1 }],
        },
      },
      /thresholdPercentage must be a number from 0 to 100, not 101/,
    ],
    [
      {
        abortConfig: {
          criteriaList: [{ failureType: 'FAILED', action: 'CANCEL', thresholdPercentage: 10.125, minNumberOfExecutedThings: 1 }],
        },
      },
      /thresholdPercentage may have at most 2 decimal places/,
    ],
    [
      {
        abortConfig: { criteriaList: [{ failureType: 'FAILED', action: 'CANCEL', thresholdPercentage: 10, minNumberOfExecutedThings: 0 }] },
      },
      /minNumberOfExecutedThings must be a whole number from 1/,
    ],
    [
      {
        abortConfig: {
          criteriaList: [{ failureType: 'SLOW' as never, action: 'CANCEL', thresholdPercentage: 10, minNumberOfExecutedThings: 1 }],
        },
      },
      /failureType must be one of FAILED, REJECTED, TIMED_OUT, ALL, not "SLOW"/,
    ],
    [{ timeoutConfig: { inProgressTimeoutInMinutes: 0 } }, /inProgressTimeoutInMinutes must be a whole number from 1 to 10080, not 0/],
    [
      { timeoutConfig: { inProgressTimeoutInMinutes: 10081 } },
      /inProgressTimeoutInMinutes must be a whole number from 1 to 10080, not 10081/,
    ],
    [
      { jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'FAILED', numberOfRetries: 11 }] } },
      /numberOfRetries must be a whole number from 0 to 10, not 11/,
    ],
    [
      {
        jobExecutionsRetryConfig: {
          criteriaList: [
            { failureType: 'FAILED', numberOfRetries: 6 },
            { failureType: 'TIMED_OUT', numberOfRetries: 5 },
          ],
        },
      },
      /at most 10 retries in total/,
    ],
    [
      { jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'REJECTED' as never, numberOfRetries: 1 }] } },
      /failureType must be one of FAILED, TIMED_OUT, ALL/,
    ],
    [{ presignedUrlConfig: { expiresInSec: 59 } }, /expiresInSec must be a whole number from 60 to 3600, not 59/],
    [{ targetSelection: 'SOMETIMES' as never }, /targetSelection must be one of SNAPSHOT, CONTINUOUS, not "SOMETIMES"/],
  ];
  for (const [change, message] of cases) await expectInvalid(change, message);
});

test('an unknown job is ResourceNotFoundException (404) for every operation on it', async () => {
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['DescribeJob', () => ctx.iot.send(new DescribeJobCommand({ jobId: 'nope' }))],
    ['GetJobDocument', () => ctx.iot.send(new GetJobDocumentCommand({ jobId: 'nope' }))],
    ['CancelJob', () => ctx.iot.send(new CancelJobCommand({ jobId: 'nope' }))],
    ['DeleteJob', () => ctx.iot.send(new DeleteJobCommand({ jobId: 'nope' }))],
    ['AssociateTargetsWithJob', () => ctx.iot.send(new AssociateTargetsWithJobCommand({ jobId: 'nope', targets: [groupArn('e-group')] }))],
  ];
  for (const [op, call] of calls) {
    const e = await awsError(call());
    assert.deepEqual([e.name, e.status, e.message], ['ResourceNotFoundException', 404, 'Job nope cannot be found.'], op);
  }
  const list = await awsError(ctx.iot.send(new ListJobsCommand({ status: 'RUNNING' as never })));
  assert.deepEqual([list.name, list.status], ['InvalidRequestException', 400]);
  assert.match(list.message, /status must be one of IN_PROGRESS, CANCELED, COMPLETED/);
  const size = await awsError(ctx.iot.send(new ListJobsCommand({ maxResults: 251 })));
  assert.deepEqual([size.name, size.status], ['InvalidRequestException', 400]);
  assert.match(size.message, /maxResults must be a whole number from 1 to 250/);
});

test('a COMPLETED job cannot be canceled (InvalidRequestException, as CancelJob models); a snapshot job cannot take new targets', async () => {
  await ctx.iot.send(new CreateJobCommand({ jobId: 'finished', targets: [thingArn('e-thing')], document }));
  await ctx.report('e-thing', 'finished', 'SUCCEEDED');
  assert.equal((await ctx.iot.send(new DescribeJobCommand({ jobId: 'finished' }))).job!.status, 'COMPLETED');
  for (const force of [false, true]) {
    const e = await awsError(ctx.iot.send(new CancelJobCommand({ jobId: 'finished', force })));
    assert.deepEqual([e.name, e.status], ['InvalidRequestException', 400]);
    assert.match(e.message, /finished is COMPLETED/);
  }
  const job = (await ctx.iot.send(new DescribeJobCommand({ jobId: 'finished' }))).job!;
  assert.deepEqual([job.status, job.forceCanceled], ['COMPLETED', undefined], 'unchanged');

  await ctx.iot.send(new CreateJobCommand({ jobId: 'snap-only', targets: [thingArn('e-thing')], document }));
  const assoc = await awsError(ctx.iot.send(new AssociateTargetsWithJobCommand({ jobId: 'snap-only', targets: [groupArn('e-group')] })));
  assert.deepEqual([assoc.name, assoc.status], ['InvalidRequestException', 400]);
  assert.match(assoc.message, /CONTINUOUS/);
});
