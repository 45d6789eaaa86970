/**
 * HTTP routes of Jobs: the control plane (SigV4 `iot`, reference controlplane §5.1) and the device
 * data plane (SigV4 `iot-jobs-data` or a device certificate, §5.2). Two paths exist in both APIs
 * (`GET /things/{thing}/jobs` and `GET /things/{thing}/jobs/{jobId}`); aws-api.ts picks the route by
 * the signing service, and sends certificate-authenticated devices to the data plane.
 */
import { iotArn } from '../accounts/namespace.js';
import type { ApiRequest, ApiRoute } from '../api/aws-api.js';
import { pageSize, parseBool } from '../api/pagination.js';
import { invalidRequest } from '../aws/errors.js';
import type { DeviceJobs } from './device-jobs.js';
import { toHttpError } from './job-errors.js';
import type { JobsService } from './jobs-service.js';

const MAX_RESULTS = 250;

function wholeNumber(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw invalidRequest(`${name} must be a whole number, not '${raw}'`);
  return n;
}

export function jobsControlRoutes(jobs: JobsService): ApiRoute[] {
  const list = (r: ApiRequest) => ({ maxResults: pageSize(r.query.maxResults, 'maxResults', MAX_RESULTS), nextToken: r.query.nextToken });
  const force = (r: ApiRequest): boolean => parseBool(r.query.force, 'force') ?? false;
  return [
    {
      method: 'PUT',
      path: '/jobs/:jobId',
      service: 'iot',
      operation: 'CreateJob',
      handler: (r) => jobs.createJob(r.ctx.ns, r.params.jobId, r.body),
    },
    {
      method: 'GET',
      path: '/jobs/:jobId',
      service: 'iot',
      operation: 'DescribeJob',
      readOnly: true,
      handler: (r) => jobs.describeJob(r.ctx.ns, r.params.jobId!),
    },
    {
      method: 'GET',
      path: '/jobs/:jobId/job-document',
      service: 'iot',
      operation: 'GetJobDocument',
      readOnly: true,
      handler: (r) => jobs.getJobDocument(r.ctx.ns, r.params.jobId!, parseBool(r.query.beforeSubstitution, 'beforeSubstitution') ?? false),
    },
    {
      method: 'GET',
      path: '/jobs',
      service: 'iot',
      operation: 'ListJobs',
      readOnly: true,
      handler: (r) =>
        jobs.listJobs(r.ctx.ns, {
          ...list(r),
          status: r.query.status,
          targetSelection: r.query.targetSelection,
          thingGroupName: r.query.thingGroupName,
        }),
    },
    {
      method: 'PATCH',
      path: '/jobs/:jobId',
      service: 'iot',
      operation: 'UpdateJob',
      handler: (r) => jobs.updateJob(r.ctx.ns, r.params.jobId!, r.body),
    },
    {
      method: 'PUT',
      path: '/jobs/:jobId/cancel',
      service: 'iot',
      operation: 'CancelJob',
      handler: (r) => jobs.cancelJob(r.ctx.ns, r.params.jobId!, force(r), r.body),
    },
    {
      method: 'DELETE',
      path: '/jobs/:jobId',
      service: 'iot',
      operation: 'DeleteJob',
      handler: (r) => jobs.deleteJob(r.ctx.ns, r.params.jobId!, force(r)),
    },
    {
      method: 'POST',
      path: '/jobs/:jobId/targets',
      service: 'iot',
      operation: 'AssociateTargetsWithJob',
      handler: (r) => jobs.associateTargets(r.ctx.ns, r.params.jobId!, r.body),
    },
    {
      method: 'GET',
      path: '/things/:thingName/jobs/:jobId',
      service: 'iot',
      operation: 'DescribeJobExecution',
      readOnly: true,
      handler: (r) =>
        jobs.describeExecution(r.ctx.ns, r.params.jobId!, r.params.thingName!, wholeNumber(r.query.executionNumber, 'executionNumber')),
    },
    {
      method: 'GET',
      path: '/jobs/:jobId/things',
      service: 'iot',
      operation: 'ListJobExecutionsForJob',
      readOnly: true,
      handler: (r) => jobs.listExecutionsForJob(r.ctx.ns, r.params.jobId!, { ...list(r), status: r.query.status }),
    },
    {
      method: 'GET',
      path: '/things/:thingName/jobs',
      service: 'iot',
      operation: 'ListJobExecutionsForThing',
      readOnly: true,
      handler: (r) =>
        jobs.listExecutionsForThing(r.ctx.ns, r.params.thingName!, { ...list(r), status: r.query.status, jobId: r.query.jobId }),
    },
    {
      method: 'PUT',
      path: '/things/:thingName/jobs/:jobId/cancel',
      service: 'iot',
      operation: 'CancelJobExecution',
      handler: (r) => jobs.cancelExecution(r.ctx.ns, r.params.jobId!, r.params.thingName!, force(r), r.body),
    },
    {
      method: 'DELETE',
      path: '/things/:thingName/jobs/:jobId/executionNumber/:executionNumber',
      service: 'iot',
      operation: 'DeleteJobExecution',
      handler: (r) =>
        jobs.deleteExecution(
          r.ctx.ns,
          r.params.jobId!,
          r.params.thingName!,
          wholeNumber(r.params.executionNumber, 'executionNumber') ?? 0,
          force(r),
        ),
    },
    {
      method: 'PUT',
      path: '/job-templates/:jobTemplateId',
      service: 'iot',
      operation: 'CreateJobTemplate',
      handler: (r) => jobs.templates.create(r.ctx.ns, r.params.jobTemplateId, r.body),
    },
    {
      method: 'GET',
      path: '/job-templates/:jobTemplateId',
      service: 'iot',
      operation: 'DescribeJobTemplate',
      readOnly: true,
      handler: (r) => jobs.templates.describe(r.ctx.ns, r.params.jobTemplateId!),
    },
    {
      method: 'GET',
      path: '/job-templates',
      service: 'iot',
      operation: 'ListJobTemplates',
      readOnly: true,
      handler: (r) => jobs.templates.list(r.ctx.ns, list(r)),
    },
    {
      method: 'DELETE',
      path: '/job-templates/:jobTemplateId',
      service: 'iot',
      operation: 'DeleteJobTemplate',
      handler: (r) => jobs.templates.delete(r.ctx.ns, r.params.jobTemplateId!),
    },
  ];
}

/** The HTTP data plane carries the job document as JSON text, where MQTT carries the object. */
function documentAsText<T extends { jobDocument?: unknown }>(o: T | undefined): T | undefined {
  if (o?.jobDocument !== undefined) return { ...o, jobDocument: JSON.stringify(o.jobDocument) };
  return o;
}

export function jobsDataRoutes(devices: DeviceJobs): ApiRoute[] {
  /** Runs a device operation after the caller may perform `action` on the thing, in the thing's order. */
  const deviceCall =
    (action: string, fn: (r: ApiRequest) => Promise<unknown>) =>
    async (r: ApiRequest): Promise<unknown> => {
      r.ctx.authorize(action, iotArn(r.ctx.ns, `thing/${r.params.thingName!}`));
      try {
        return await devices.inOrder(r.ctx.ns, r.params.thingName!, () => fn(r));
      } catch (err) {
        throw toHttpError(err);
      }
    };
  const common = { service: 'iot-jobs-data' as const, device: true };
  return [
    {
      ...common,
      method: 'GET',
      path: '/things/:thingName/jobs',
      operation: 'GetPendingJobExecutions',
      readOnly: true,
      handler: deviceCall('iot:GetPendingJobExecutions', async (r) => {
        const { inProgressJobs, queuedJobs } = await devices.getPending(r.ctx.ns, r.params.thingName!);
        return { inProgressJobs, queuedJobs };
      }),
    },
    {
      ...common,
      method: 'PUT',
      path: '/things/:thingName/jobs/:jobId',
      operation: 'StartNextPendingJobExecution',
      handler: deviceCall('iot:StartNextPendingJobExecution', async (r) => {
        if (r.params.jobId !== '$next')
          throw invalidRequest(`No operation at PUT /things/${r.params.thingName!}/jobs/${r.params.jobId!}; did you mean $next?`);
        return { execution: documentAsText((await devices.startNext(r.ctx.ns, r.params.thingName!, r.body)).execution) };
      }),
    },
    {
      ...common,
      method: 'GET',
      path: '/things/:thingName/jobs/:jobId',
      operation: 'DescribeJobExecution',
      readOnly: true,
      handler: deviceCall('iot:DescribeJobExecution', async (r) => {
        const include = parseBool(r.query.includeJobDocument, 'includeJobDocument');
        const executionNumber = wholeNumber(r.query.executionNumber, 'executionNumber');
        const { execution } = await devices.describe(r.ctx.ns, r.params.thingName!, r.params.jobId!, {
          includeJobDocument: include,
          executionNumber,
        });
        return { execution: documentAsText(execution) };
      }),
    },
    {
      ...common,
      method: 'POST',
      path: '/things/:thingName/jobs/:jobId',
      operation: 'UpdateJobExecution',
      handler: deviceCall('iot:UpdateJobExecution', async (r) => {
        const { executionState, jobDocument } = await devices.update(r.ctx.ns, r.params.thingName!, r.params.jobId!, r.body);
        return { executionState, jobDocument: jobDocument === undefined ? undefined : JSON.stringify(jobDocument) };
      }),
    },
  ];
}
