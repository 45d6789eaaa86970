/**
 * Job templates (reference controlplane §5.1): a document and configuration that CreateJob can
 * start from (`jobTemplateArn`), made from a document, a stored file or an existing job.
 */
import { iotArn, parseArn, type Namespace } from '../accounts/namespace.js';
import { pageOf } from '../api/pagination.js';
import { AwsError, invalidRequest, notFound } from '../aws/errors.js';
import { checkDocument, checkJobId, optionalConfig, optionalText } from './job-config.js';
import type { JobStore, TemplateRecord } from './job-store.js';
import { checkMaintenanceWindows } from './job-schedule.js';
import type { JobConfig, MaintenanceWindow } from './job-types.js';

const MAX_RESULTS = 250;

/** A template's maintenanceWindows, kept with its configuration; a job made from it schedules its rollout in them. */
export interface TemplateWindows {
  maintenanceWindows?: MaintenanceWindow[];
}

export class JobTemplates {
  constructor(
    private readonly store: JobStore,
    private readonly clock: () => number,
    /** A document kept as a stored file (`documentSource`), checked. */
    private readonly sourceDocument: (ns: Namespace, source: unknown) => Promise<string>,
  ) {}

  /** The template a CreateJob names by ARN, in the caller's namespace. */
  byArn(ns: Namespace, arn: unknown): TemplateRecord {
    if (typeof arn !== 'string') throw invalidRequest('jobTemplateArn must be a string');
    const p = parseArn(arn);
    const id = p?.resource.startsWith('jobtemplate/') ? p.resource.slice('jobtemplate/'.length) : undefined;
    const t = id !== undefined && p?.accountId === ns.accountId && p.region === ns.region ? this.store.template(ns, id) : undefined;
    if (!t) throw notFound(`Job template ${arn} cannot be found.`);
    return t;
  }

  async create(ns: Namespace, idParam: string | undefined, body: Record<string, unknown>) {
    const jobTemplateId = checkJobId('jobTemplateId', idParam);
    const description = optionalText('description', body.description, 2028);
    if (description === undefined) throw invalidRequest('description is required');
    const given = [body.jobArn, body.document, body.documentSource].filter((v) => v !== undefined).length;
    if (given !== 1) throw invalidRequest('Exactly one of jobArn, document and documentSource must be given');
    let document: string;
    let config: Partial<JobConfig> & TemplateWindows = optionalConfig(body);
    if (body.jobArn !== undefined) {
      const p = typeof body.jobArn === 'string' ? parseArn(body.jobArn) : undefined;
      const jobId = p?.resource.startsWith('job/') ? p.resource.slice(4) : '';
      const job = p?.accountId === ns.accountId && p.region === ns.region ? this.store.job(ns, jobId) : undefined;
      if (!job) throw notFound(`Job ${String(body.jobArn)} cannot be found.`);
      document = job.document;
      const { presignedUrlConfig, jobExecutionsRolloutConfig, abortConfig, timeoutConfig, jobExecutionsRetryConfig } = job;
      config = { presignedUrlConfig, jobExecutionsRolloutConfig, abortConfig, timeoutConfig, jobExecutionsRetryConfig, ...config };
    } else if (body.document !== undefined) document = checkDocument('document', body.document);
    else document = await this.sourceDocument(ns, body.documentSource);
    if (body.maintenanceWindows !== undefined) {
      config.maintenanceWindows = checkMaintenanceWindows('maintenanceWindows', body.maintenanceWindows, this.clock());
    }
    const taken = () =>
      new AwsError('ConflictException', 409, `Job template ${jobTemplateId} already exists.`, { resourceId: jobTemplateId });
    if (this.store.template(ns, jobTemplateId)) throw taken();
    const inserted = await this.store.insertTemplate(ns, {
      jobTemplateId,
      createdAt: this.clock(),
      description,
      document,
      config: JSON.parse(JSON.stringify(config)) as Record<string, unknown>,
    });
    // Only the database knew: another node created it meanwhile.
    if (!inserted) throw taken();
    return { jobTemplateArn: iotArn(ns, `jobtemplate/${jobTemplateId}`), jobTemplateId };
  }

  describe(ns: Namespace, id: string) {
    const t = this.store.template(ns, id);
    if (!t) throw notFound(`Job template ${id} cannot be found.`);
    return {
      jobTemplateArn: iotArn(ns, `jobtemplate/${id}`),
      jobTemplateId: id,
      description: t.description,
      document: t.document,
      createdAt: t.createdAt / 1000,
      ...t.config,
    };
  }

  list(ns: Namespace, q: { maxResults: number; nextToken?: string }) {
    const page = pageOf(this.store.templates(ns), Math.min(q.maxResults, MAX_RESULTS), q.nextToken);
    return {
      jobTemplates: page.items.map((t) => ({
        jobTemplateArn: iotArn(ns, `jobtemplate/${t.jobTemplateId}`),
        jobTemplateId: t.jobTemplateId,
        description: t.description,
        createdAt: t.createdAt / 1000,
      })),
      nextToken: page.next,
    };
  }

  async delete(ns: Namespace, id: string): Promise<Record<string, never>> {
    if (!(await this.store.deleteTemplate(ns, id))) throw notFound(`Job template ${id} cannot be found.`);
    return {};
  }
}
