/**
 * Validation of the configuration members of CreateJob, UpdateJob and CreateJobTemplate, with the
 * ranges of the AWS model (reference controlplane §5.1); every refusal names the member.
 */
import { invalidRequest, limitExceeded } from '../aws/errors.js';
import type { AbortCriteria, JobConfig, RetryCriteria, RolloutConfig } from './job-types.js';

export const JOB_ID = /^[a-zA-Z0-9_-]{1,64}$/;
export const MAX_DOCUMENT_CHARS = 32_768;
/** AWS: "the total number of targets associated with a job must not exceed 100" (a group counts once). */
export const MAX_TARGETS = 100;

export function checkJobId(member: string, v: unknown): string {
  if (typeof v !== 'string' || !JOB_ID.test(v)) {
    throw invalidRequest(`${member} must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -, not ${JSON.stringify(v)}`);
  }
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function object(member: string, v: unknown): Record<string, unknown> {
  if (!isObject(v)) throw invalidRequest(`${member} must be an object`);
  return v;
}

function number(member: string, v: unknown, min: number, max: number, opts: { integer?: boolean; decimals?: number } = {}): number {
  if (
    typeof v !== 'number' ||
    !Number.isFinite(v) ||
    v < min ||
    v > max ||
    (opts.integer !== false && !opts.decimals && !Number.isInteger(v))
  ) {
    throw invalidRequest(
      `${member} must be a ${opts.decimals ? 'number' : 'whole number'} from ${min} to ${max}, not ${JSON.stringify(v)}`,
    );
  }
  if (opts.decimals !== undefined && Math.round(v * 10 ** opts.decimals) !== v * 10 ** opts.decimals) {
    throw invalidRequest(`${member} may have at most ${opts.decimals} decimal place${opts.decimals > 1 ? 's' : ''}, not ${v}`);
  }
  return v;
}

function oneOf<T extends string>(member: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T))
    throw invalidRequest(`${member} must be one of ${allowed.join(', ')}, not ${JSON.stringify(v)}`);
  return v as T;
}

export function optionalText(member: string, v: unknown, max: number): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > max) throw invalidRequest(`${member} must be a string of at most ${max} characters`);
  return v;
}

/** A job document: JSON text of an object, at most 32,768 characters. */
export function checkDocument(member: string, v: unknown): string {
  if (typeof v !== 'string') throw invalidRequest(`${member} must be a string holding a JSON object`);
  if (v.length > MAX_DOCUMENT_CHARS) {
    throw invalidRequest(`${member} is ${v.length} characters long; the most a job document may have is ${MAX_DOCUMENT_CHARS}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch (err) {
    throw invalidRequest(`${member} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw invalidRequest(`${member} must be a JSON object`);
  return v;
}

export function checkTargets(v: unknown): string[] {
  if (!Array.isArray(v) || v.length === 0) throw invalidRequest('targets must be a non-empty list of thing and thing group ARNs');
  if (v.length > MAX_TARGETS) throw limitExceeded(`A job may have at most ${MAX_TARGETS} targets, not ${v.length}`);
  for (const t of v) if (typeof t !== 'string' || t.length > 2048) throw invalidRequest(`targets must be ARNs, not ${JSON.stringify(t)}`);
  return [...new Set(v as string[])];
}

function rollout(v: unknown): RolloutConfig {
  const o = object('jobExecutionsRolloutConfig', v);
  const out: RolloutConfig = {};
  if (o.maximumPerMinute !== undefined)
    out.maximumPerMinute = number('jobExecutionsRolloutConfig.maximumPerMinute', o.maximumPerMinute, 1, 1000);
  if (o.exponentialRate !== undefined) {
    const e = object('exponentialRate', o.exponentialRate);
    const c = object('exponentialRate.rateIncreaseCriteria', e.rateIncreaseCriteria);
    const criteria: { numberOfNotifiedThings?: number; numberOfSucceededThings?: number } = {};
    if (c.numberOfNotifiedThings !== undefined)
      criteria.numberOfNotifiedThings = number('rateIncreaseCriteria.numberOfNotifiedThings', c.numberOfNotifiedThings, 1, 1_000_000);
    if (c.numberOfSucceededThings !== undefined)
      criteria.numberOfSucceededThings = number('rateIncreaseCriteria.numberOfSucceededThings', c.numberOfSucceededThings, 1, 1_000_000);
    if ((criteria.numberOfNotifiedThings === undefined) === (criteria.numberOfSucceededThings === undefined)) {
      throw invalidRequest('rateIncreaseCriteria must have exactly one of numberOfNotifiedThings and numberOfSucceededThings');
    }
    out.exponentialRate = {
      baseRatePerMinute: number('exponentialRate.baseRatePerMinute', e.baseRatePerMinute, 1, 1000),
      incrementFactor: number('exponentialRate.incrementFactor', e.incrementFactor, 1.1, 5, { decimals: 1 }),
      rateIncreaseCriteria: criteria,
    };
  }
  if (out.maximumPerMinute !== undefined && out.exponentialRate && out.maximumPerMinute < out.exponentialRate.baseRatePerMinute) {
    throw invalidRequest('jobExecutionsRolloutConfig.maximumPerMinute must not be below exponentialRate.baseRatePerMinute');
  }
  return out;
}

function abort(v: unknown): { criteriaList: AbortCriteria[] } {
  const o = object('abortConfig', v);
  if (!Array.isArray(o.criteriaList) || o.criteriaList.length === 0)
    throw invalidRequest('abortConfig.criteriaList must be a non-empty list');
  return {
    criteriaList: o.criteriaList.map((c, i) => {
      const m = `abortConfig.criteriaList[${i}]`;
      const x = object(m, c);
      return {
        failureType: oneOf(`${m}.failureType`, x.failureType, ['FAILED', 'REJECTED', 'TIMED_OUT', 'ALL'] as const),
        action: oneOf(`${m}.action`, x.action, ['CANCEL'] as const),
        thresholdPercentage: number(`${m}.thresholdPercentage`, x.thresholdPercentage, 0, 100, { decimals: 2 }),
        minNumberOfExecutedThings: number(`${m}.minNumberOfExecutedThings`, x.minNumberOfExecutedThings, 1, 2_147_483_647),
      };
    }),
  };
}

function retry(v: unknown): { criteriaList: RetryCriteria[] } {
  const o = object('jobExecutionsRetryConfig', v);
  if (!Array.isArray(o.criteriaList) || o.criteriaList.length === 0 || o.criteriaList.length > 2) {
    throw invalidRequest('jobExecutionsRetryConfig.criteriaList must list 1 or 2 criteria');
  }
  const list = o.criteriaList.map((c, i) => {
    const m = `jobExecutionsRetryConfig.criteriaList[${i}]`;
    const x = object(m, c);
    return {
      failureType: oneOf(`${m}.failureType`, x.failureType, ['FAILED', 'TIMED_OUT', 'ALL'] as const),
      numberOfRetries: number(`${m}.numberOfRetries`, x.numberOfRetries, 0, 10),
    };
  });
  if (new Set(list.map((c) => c.failureType)).size !== list.length)
    throw invalidRequest('jobExecutionsRetryConfig.criteriaList names a failureType twice');
  if (list.reduce((n, c) => n + c.numberOfRetries, 0) > 10)
    throw invalidRequest('jobExecutionsRetryConfig allows at most 10 retries in total');
  return { criteriaList: list };
}

function timeout(v: unknown): { inProgressTimeoutInMinutes?: number } {
  const o = object('timeoutConfig', v);
  if (o.inProgressTimeoutInMinutes === undefined) return {};
  return { inProgressTimeoutInMinutes: number('timeoutConfig.inProgressTimeoutInMinutes', o.inProgressTimeoutInMinutes, 1, 10080) };
}

function presigned(v: unknown): { roleArn?: string; expiresInSec?: number } {
  const o = object('presignedUrlConfig', v);
  const out: { roleArn?: string; expiresInSec?: number } = {};
  if (o.roleArn !== undefined) out.roleArn = optionalText('presignedUrlConfig.roleArn', o.roleArn, 2048);
  if (o.expiresInSec !== undefined) out.expiresInSec = number('presignedUrlConfig.expiresInSec', o.expiresInSec, 60, 3600);
  return out;
}

function parameters(v: unknown): Record<string, string> {
  const o = object('documentParameters', v);
  const entries = Object.entries(o);
  if (entries.length > 50) throw invalidRequest('documentParameters may have at most 50 entries');
  for (const [k, val] of entries) {
    if (!/^[a-zA-Z0-9_-]{1,128}$/.test(k))
      throw invalidRequest(`documentParameters key ${JSON.stringify(k)} must be 1 to 128 characters of a-z, A-Z, 0-9, _ and -`);
    if (typeof val !== 'string' || val.length > 30_720)
      throw invalidRequest(`documentParameters.${k} must be a string of at most 30720 characters`);
  }
  return o as Record<string, string>;
}

/** The optional configuration members that CreateJob, UpdateJob and CreateJobTemplate share. */
export function optionalConfig(body: Record<string, unknown>): Partial<JobConfig> {
  const out: Partial<JobConfig> = {};
  if (body.description !== undefined) out.description = optionalText('description', body.description, 2028);
  if (body.presignedUrlConfig !== undefined) out.presignedUrlConfig = presigned(body.presignedUrlConfig);
  if (body.jobExecutionsRolloutConfig !== undefined) out.jobExecutionsRolloutConfig = rollout(body.jobExecutionsRolloutConfig);
  if (body.abortConfig !== undefined) out.abortConfig = abort(body.abortConfig);
  if (body.timeoutConfig !== undefined) out.timeoutConfig = timeout(body.timeoutConfig);
  if (body.jobExecutionsRetryConfig !== undefined) out.jobExecutionsRetryConfig = retry(body.jobExecutionsRetryConfig);
  return out;
}

export function checkTargetSelection(v: unknown): 'SNAPSHOT' | 'CONTINUOUS' {
  return v === undefined ? 'SNAPSHOT' : oneOf('targetSelection', v, ['SNAPSHOT', 'CONTINUOUS'] as const);
}

export function checkDocumentParameters(v: unknown): Record<string, string> | undefined {
  return v === undefined ? undefined : parameters(v);
}

/** Fills `${aws:iot:parameter:<name>}` placeholders; a placeholder without a value is an error. */
export function applyParameters(document: string, params: Record<string, string> | undefined): string {
  return document.replace(/\$\{aws:iot:parameter:([a-zA-Z0-9_-]+)\}/g, (_m, name: string) => {
    const v = params?.[name];
    if (v === undefined) throw invalidRequest(`The job document uses the parameter ${name}, which documentParameters does not give`);
    // The value lands inside a JSON string of the document.
    return JSON.stringify(v).slice(1, -1);
  });
}

/** statusDetails: at most 10 entries, keys of [a-zA-Z0-9:_-], string values of at most 1,024 characters. */
export function checkStatusDetails(v: unknown): Record<string, string> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidRequest('statusDetails must be an object of strings');
  const entries = Object.entries(v);
  if (entries.length > 10) throw invalidRequest(`statusDetails may have at most 10 entries, not ${entries.length}`);
  for (const [k, val] of entries) {
    if (!/^[a-zA-Z0-9:_-]{1,128}$/.test(k))
      throw invalidRequest(`statusDetails key ${JSON.stringify(k)} must be 1 to 128 characters of a-z, A-Z, 0-9, :, _ and -`);
    if (typeof val !== 'string' || val.length === 0 || val.length > 1024) {
      throw invalidRequest(`statusDetails.${k} must be a string of 1 to 1024 characters`);
    }
  }
  return v as Record<string, string>;
}
