/**
 * Job executions as administrators see them (reference controlplane §5.1): DescribeJobExecution,
 * the two listings, CancelJobExecution and DeleteJobExecution. A cancellation or deletion is
 * conditional on the execution as it was read (its version checked against `expectedVersion`), and
 * decided again on what is there when a device changed it meanwhile.
 */
import type { Namespace } from '../accounts/namespace.js';
import { pageOf } from '../api/pagination.js';
import { AwsError, invalidRequest, notFound, versionConflict } from '../aws/errors.js';
import type { RegistryStore } from '../registry/registry-store.js';
import { checkStatusDetails } from './job-config.js';
import { withOutbox, type JobLifecycle } from './job-lifecycle.js';
import { untilApplied, type JobStore } from './job-store.js';
import { EXECUTION_STATUSES, isTerminal, type ExecutionRecord } from './job-types.js';
import { executionSummary, executionView, thingArn } from './job-views.js';

export const invalidTransition = (message: string): AwsError => new AwsError('InvalidStateTransitionException', 409, message);

const MAX_RESULTS = 250;

export interface ExecutionAdminDeps {
  store: JobStore;
  lifecycle: JobLifecycle;
  registry: Pick<RegistryStore, 'thing'>;
  clock: () => number;
}

export class ExecutionAdmin {
  constructor(private readonly d: ExecutionAdminDeps) {}

  private async execution(ns: Namespace, jobId: string, thingName: string, executionNumber?: number): Promise<ExecutionRecord> {
    const e = await this.d.store.execution(ns, jobId, thingName, executionNumber);
    if (!e) {
      const which = executionNumber === undefined ? '' : ` with executionNumber ${executionNumber}`;
      throw notFound(`Job execution of job ${jobId} on thing ${thingName}${which} cannot be found.`);
    }
    return e;
  }

  async describe(ns: Namespace, jobId: string, thingName: string, executionNumber: number | undefined) {
    return { execution: executionView(ns, await this.execution(ns, jobId, thingName, executionNumber), this.d.clock()) };
  }

  private checkStatus(status: string | undefined): void {
    if (status !== undefined && !(EXECUTION_STATUSES as readonly string[]).includes(status)) {
      throw invalidRequest(`status must be one of ${EXECUTION_STATUSES.join(', ')}, not '${status}'`);
    }
  }

  async listForJob(ns: Namespace, jobId: string, q: { status?: string; maxResults: number; nextToken?: string }) {
    this.checkStatus(q.status);
    if (!this.d.store.job(ns, jobId)) throw notFound(`Job ${jobId} cannot be found.`);
    const latest = new Map<string, ExecutionRecord>();
    for (const e of await this.d.store.executionsOfJob(ns, jobId)) latest.set(e.thingName, e);
    const list = [...latest.values()].filter((e) => q.status === undefined || e.status === q.status);
    const page = pageOf(list, Math.min(q.maxResults, MAX_RESULTS), q.nextToken);
    return {
      executionSummaries: page.items.map((e) => ({ thingArn: thingArn(ns, e.thingName), jobExecutionSummary: executionSummary(e) })),
      nextToken: page.next,
    };
  }

  async listForThing(ns: Namespace, thingName: string, q: { status?: string; jobId?: string; maxResults: number; nextToken?: string }) {
    this.checkStatus(q.status);
    const all = await this.d.store.executionsOfThing(ns, thingName);
    if (!this.d.registry.thing(ns, thingName) && all.length === 0) throw notFound(`Thing ${thingName} cannot be found.`);
    let list: ExecutionRecord[];
    if (q.jobId !== undefined) list = all.filter((e) => e.jobId === q.jobId);
    else {
      const latest = new Map<string, ExecutionRecord>();
      for (const e of all) if ((latest.get(e.jobId)?.executionNumber ?? 0) < e.executionNumber) latest.set(e.jobId, e);
      list = [...latest.values()];
    }
    list = list.filter((e) => q.status === undefined || e.status === q.status).sort((a, b) => b.seq - a.seq);
    const page = pageOf(list, Math.min(q.maxResults, MAX_RESULTS), q.nextToken);
    return {
      executionSummaries: page.items.map((e) => ({ jobId: e.jobId, jobExecutionSummary: executionSummary(e) })),
      nextToken: page.next,
    };
  }

  async cancel(
    ns: Namespace,
    jobId: string,
    thingName: string,
    force: boolean,
    body: Record<string, unknown>,
  ): Promise<Record<string, never>> {
    const details = body.statusDetails === undefined ? undefined : checkStatusDetails(body.statusDetails);
    await withOutbox(async (out) => {
      await untilApplied('The job execution', async () => {
        const e = await this.execution(ns, jobId, thingName);
        if (body.expectedVersion !== undefined && body.expectedVersion !== e.versionNumber) {
          throw versionConflict(`The job execution is at version ${e.versionNumber}, not ${String(body.expectedVersion)}`);
        }
        if (isTerminal(e.status)) throw invalidTransition(`The job execution is ${e.status} already`);
        if (e.status === 'IN_PROGRESS' && !force) throw invalidTransition('The job execution is IN_PROGRESS; cancel it with force');
        return this.d.lifecycle.cancelExecution(ns, e, force, out, details);
      });
      await this.d.lifecycle.checkCompleted(ns, jobId, out);
    });
    return {};
  }

  async delete(ns: Namespace, jobId: string, thingName: string, executionNumber: number, force: boolean): Promise<Record<string, never>> {
    await withOutbox(async (out) => {
      await untilApplied('The job execution', async () => {
        const e = await this.execution(ns, jobId, thingName, executionNumber);
        if (!isTerminal(e.status) && !force)
          throw invalidTransition(`The job execution is ${e.status}; delete it with force, or wait until it ends`);
        const before = await this.d.lifecycle.snapshot(ns, thingName);
        if (!(await this.d.store.deleteExecution(ns, e))) return false;
        this.d.lifecycle.executionEvent(ns, e, 'deleted', out);
        await this.d.lifecycle.notifyIfChanged(ns, thingName, before, out);
        return true;
      });
      await this.d.lifecycle.checkCompleted(ns, jobId, out);
    });
    return {};
  }
}
