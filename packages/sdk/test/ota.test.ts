/**
 * OTA through jobs against the real server: the job document names a stored file by presigned HTTPS
 * URL and SHA-256; the download is interrupted and resumed with an HTTP Range request by the next
 * process; progress is reported as IN_PROGRESS statusDetails; a digest mismatch fails the job.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeJobExecutionCommand } from '@aws-sdk/client-iot';
import { connectDevice, JobsClient, runOtaJob, type DeviceClient, type OtaError } from '@thicket/sdk';
import { JobsAdmin } from '../../server/test/jobs-helpers.js';
import { uploaded } from '../../server/test/files-helpers.js';
import { mtlsOptions, Observer, provision, scratch, startTestServer, type Device, type TestServer } from './helpers.js';

let server: TestServer;
let admin: JobsAdmin;
const firmware = randomBytes(1_000_000);

before(async () => {
  server = await startTestServer({ dev: true });
  admin = new JobsAdmin(server);
  await uploaded(server, 'fw-2.0.bin', firmware);
});
after(async () => {
  admin.destroy();
  await server.close();
});

async function otaDevice(thingName: string): Promise<Device> {
  const d = await provision(server, thingName);
  await admin.thing(thingName, true);
  return d;
}

async function connectJobs(d: Device): Promise<{ device: DeviceClient; jobs: JobsClient }> {
  const device = await connectDevice(mtlsOptions(server, d));
  return { device, jobs: new JobsClient(device, d.thingName) };
}

async function executionState(thingName: string, jobId: string) {
  const { execution } = await admin.iot.send(new DescribeJobExecutionCommand({ thingName, jobId }));
  return { status: execution?.status, details: execution?.statusDetails?.detailsMap };
}

test('a download interrupted part way is resumed with a Range request by the next process, verified, and the job succeeds', async () => {
  const d = await otaDevice('ota-resume');
  await admin.job(
    'ota-resume-1',
    ['ota-resume'],
    {
      operation: 'ota',
      files: [
        {
          url: '${thicket:PresignedUrl:fw-2.0.bin}',
          sha256: '${thicket:FileSha256:fw-2.0.bin}',
          size: '${thicket:FileSize:fw-2.0.bin}',
          fileName: 'fw.bin',
        },
      ],
    },
    { presignedUrlConfig: { expiresInSec: 600 } },
  );
  const dir = scratch();
  const updates = await Observer.start(server, ['$aws/things/ota-resume/jobs/ota-resume-1/update']);
  try {
    // First process: stops (as if killed) once about a third has arrived.
    const first = await connectJobs(d);
    const execution = await first.jobs.startNext();
    assert.equal(execution?.jobId, 'ota-resume-1');
    const stop = new AbortController();
    await assert.rejects(
      runOtaJob(first.jobs, execution!, {
        dir,
        ca: server.pki.caCertPem,
        signal: stop.signal,
        onProgress: (percent) => {
          if (percent >= 30) stop.abort();
        },
      }),
      { name: 'AbortError' },
    );
    await first.device.close();
    const partial = statSync(join(dir, 'fw.bin.part')).size;
    assert.ok(partial > 0 && partial < firmware.length, `a partial file is left (${partial} bytes)`);
    assert.equal((await executionState('ota-resume', 'ota-resume-1')).status, 'IN_PROGRESS', 'an interrupted run leaves the job alone');

    // Next process: the same execution, resumed from the partial file.
    const second = await connectJobs(d);
    try {
      const again = await second.jobs.describe('$next');
      assert.equal(again?.jobId, 'ota-resume-1');
      const result = await runOtaJob(second.jobs, again!, { dir, ca: server.pki.caCertPem });
      assert.equal(result.status, 'SUCCEEDED');
      const [file] = result.files;
      assert.equal(file!.resumedFrom, partial);
      assert.equal(file!.fetched, firmware.length - partial, 'only the rest was fetched');
      assert.ok(readFileSync(join(dir, 'fw.bin')).equals(firmware));
      assert.equal(existsSync(join(dir, 'fw.bin.part')), false);
    } finally {
      await second.device.close();
    }
    assert.deepEqual(await executionState('ota-resume', 'ota-resume-1'), { status: 'SUCCEEDED', details: { progress: '100%' } });

    // Progress went to the job as IN_PROGRESS statusDetails, in order.
    const reports = updates.payloads().map((p) => JSON.parse(p) as { status: string; statusDetails?: { progress?: string } });
    const progress = reports.filter((r) => r.status === 'IN_PROGRESS').map((r) => Number.parseInt(r.statusDetails!.progress!, 10));
    assert.ok(progress.length >= 4, `progress reports: ${progress.join(', ')}`);
    assert.deepEqual(
      progress,
      [...progress].sort((a, b) => a - b),
      'non-decreasing: the second run starts where the first stopped',
    );
    assert.equal(progress[0], 0);
    assert.ok(progress.some((p) => p > 30 && p < 100));
    assert.equal(reports.at(-1)!.status, 'SUCCEEDED');
  } finally {
    await updates.close();
  }
});

test('a file whose SHA-256 does not match fails the job with the reason, and the corrupt download is deleted', async () => {
  const d = await otaDevice('ota-bad');
  await admin.job(
    'ota-bad-1',
    ['ota-bad'],
    { operation: 'ota', url: '${thicket:PresignedUrl:fw-2.0.bin}', sha256: 'ab'.repeat(32) },
    { presignedUrlConfig: { expiresInSec: 600 } },
  );
  const dir = scratch();
  const { device, jobs } = await connectJobs(d);
  try {
    const execution = await jobs.startNext();
    const result = await runOtaJob(jobs, execution!, { dir, ca: server.pki.caCertPem });
    assert.equal(result.status, 'FAILED');
    assert.equal((result.error as OtaError).reason, 'sha256-mismatch');
    assert.equal(existsSync(join(dir, 'fw-2.0.bin.part')), false);
    assert.equal(existsSync(join(dir, 'fw-2.0.bin')), false);
  } finally {
    await device.close();
  }
  const state = await executionState('ota-bad', 'ota-bad-1');
  assert.equal(state.status, 'FAILED');
  assert.equal(state.details?.reason, 'sha256-mismatch');
  assert.match(state.details!.message!, /sha256 mismatch: expected abab/);
});

test('a job document without a usable file fails the job as an invalid document', async () => {
  const d = await otaDevice('ota-invalid');
  await admin.job('ota-invalid-1', ['ota-invalid'], { operation: 'ota', files: [{ url: 'ftp://example/x', sha256: 'ab'.repeat(32) }] });
  const { device, jobs } = await connectJobs(d);
  try {
    const result = await runOtaJob(jobs, (await jobs.startNext())!, { dir: scratch() });
    assert.equal(result.status, 'FAILED');
  } finally {
    await device.close();
  }
  assert.deepEqual(await executionState('ota-invalid', 'ota-invalid-1'), {
    status: 'FAILED',
    details: { reason: 'invalid-document', message: 'files[0].url must be http(s): ftp://example/x' },
  });
});
