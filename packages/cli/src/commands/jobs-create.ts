/** `thicket jobs create`: the CreateJob request from the command line, with targets named as the user knows them. */
import {
  DescribeJobTemplateCommand,
  DescribeThingCommand,
  DescribeThingGroupCommand,
  type CreateJobRequest,
  type IoTClient,
  type JobEndBehavior,
} from '@aws-sdk/client-iot';
import type { ApiOptions } from '../api-client.js';
import { namedValues, numberOption, textArgument } from '../arguments.js';

export interface CreateOptions extends ApiOptions {
  targets: string[];
  document?: string;
  template?: string;
  description?: string;
  continuous?: boolean;
  maxPerMinute?: string;
  timeoutMinutes?: string;
  retries?: string;
  abortThreshold?: string;
  abortMin?: string;
  param?: string[];
  startTime?: string;
  endTime?: string;
  endBehavior?: string;
  maintenanceWindow?: string[];
  watch?: boolean;
}

export const TARGETS_HELP = `
Targets:
  arn:aws:iot:…:thing/NAME, arn:…:thinggroup/NAME   used as they are
  thing/NAME                                         the thing NAME
  group/NAME                                         the thing group NAME
  NAME                                               the thing or the thing group of that name
                                                     (an error if both exist: write thing/ or group/)
  --targets takes every argument up to the next option.

Examples:
  thicket jobs create fw-2 --targets group/lamps lamp-7 --document @job.json --watch
  thicket jobs create fw-3 --targets lamps --template ota --param version=2.1 --max-per-minute 50
  thicket jobs create fw-4 --targets lamps --document @job.json --start-time 2026-07-01T22:00 \
    --end-time 2026-07-08T06:00 --end-behavior CANCEL --maintenance-window 'cron(0 1 ? * * *)/240'

Scheduling (times in UTC, written YYYY-MM-DDTHH:MM, as AWS takes them):
  --start-time       the job is SCHEDULED until then (30 minutes to a year ahead)
  --end-time         then --end-behavior applies: STOP_ROLLOUT (no more things are notified),
                     CANCEL (queued executions are canceled) or FORCE_CANCEL (in-progress ones too)
  --maintenance-window 'cron(minutes hours day-of-month month day-of-week year)/minutes'
                     things are notified only inside these windows (repeat the option for more)`;

/** `cron(0 1 ? * SUN *)/120` as a MaintenanceWindow; the duration follows the expression's last ')'. */
export function maintenanceWindow(spec: string): { startTime: string; durationInMinutes: number } {
  const m = /^(cron\(.*\))\/(\d+)$/.exec(spec.trim());
  if (!m)
    throw new Error(
      `--maintenance-window ${JSON.stringify(spec)}: write it as 'cron(minutes hours day-of-month month day-of-week year)/minutes'`,
    );
  return { startTime: m[1]!, durationInMinutes: Number(m[2]) };
}

const notFound = (err: unknown): boolean => (err as { name?: string }).name === 'ResourceNotFoundException';

/** The ARN of a thing or thing group, looked up by name, or undefined when there is none. */
async function lookup(iot: IoTClient, kind: 'thing' | 'group', name: string): Promise<string | undefined> {
  try {
    if (kind === 'thing') return (await iot.send(new DescribeThingCommand({ thingName: name }))).thingArn;
    return (await iot.send(new DescribeThingGroupCommand({ thingGroupName: name }))).thingGroupArn;
  } catch (err) {
    if (notFound(err)) return undefined;
    throw err;
  }
}

/** A target as CreateJob takes it: see TARGETS_HELP. */
export async function targetArn(iot: IoTClient, spec: string): Promise<string> {
  if (spec.startsWith('arn:')) return spec;
  for (const [prefix, kind] of [
    ['thing/', 'thing'],
    ['group/', 'group'],
  ] as const) {
    if (!spec.startsWith(prefix)) continue;
    const name = spec.slice(prefix.length);
    const arn = await lookup(iot, kind, name);
    if (!arn) throw new Error(`target ${spec}: there is no thing${kind === 'group' ? ' group' : ''} named ${name}`);
    return arn;
  }
  const [thing, group] = await Promise.all([lookup(iot, 'thing', spec), lookup(iot, 'group', spec)]);
  if (thing && group) throw new Error(`target ${spec} is both a thing and a thing group: write thing/${spec} or group/${spec}`);
  const arn = thing ?? group;
  if (!arn) throw new Error(`target ${spec}: there is no thing or thing group of this name`);
  return arn;
}

/** The CreateJob request; the server checks the values (ranges, the document) and says what is wrong. */
export async function createJobRequest(iot: IoTClient, jobId: string, o: CreateOptions): Promise<CreateJobRequest> {
  if ((o.document === undefined) === (o.template === undefined)) throw new Error('give either --document or --template');
  if ((o.abortThreshold === undefined) !== (o.abortMin === undefined)) throw new Error('--abort-threshold and --abort-min go together');
  const maximumPerMinute = numberOption(o.maxPerMinute, '--max-per-minute');
  const inProgressTimeoutInMinutes = numberOption(o.timeoutMinutes, '--timeout-minutes');
  const numberOfRetries = numberOption(o.retries, '--retries');
  const thresholdPercentage = numberOption(o.abortThreshold, '--abort-threshold');
  const minNumberOfExecutedThings = numberOption(o.abortMin, '--abort-min');
  const documentParameters = namedValues(o.param, '--param');
  const document = o.document === undefined ? undefined : textArgument(o.document);
  let jobTemplateArn: string | undefined;
  if (o.template !== undefined) {
    jobTemplateArn = o.template.startsWith('arn:')
      ? o.template
      : (await iot.send(new DescribeJobTemplateCommand({ jobTemplateId: o.template }))).jobTemplateArn;
  }
  const maintenanceWindows = o.maintenanceWindow?.map(maintenanceWindow);
  const scheduled = o.startTime ?? o.endTime ?? o.endBehavior ?? maintenanceWindows;
  const targets = await Promise.all(o.targets.map((t) => targetArn(iot, t)));
  return {
    jobId,
    targets,
    document,
    jobTemplateArn,
    description: o.description,
    targetSelection: o.continuous ? 'CONTINUOUS' : undefined,
    jobExecutionsRolloutConfig: maximumPerMinute === undefined ? undefined : { maximumPerMinute },
    timeoutConfig: inProgressTimeoutInMinutes === undefined ? undefined : { inProgressTimeoutInMinutes },
    jobExecutionsRetryConfig: numberOfRetries === undefined ? undefined : { criteriaList: [{ failureType: 'ALL', numberOfRetries }] },
    abortConfig:
      thresholdPercentage === undefined
        ? undefined
        : { criteriaList: [{ failureType: 'ALL', action: 'CANCEL', thresholdPercentage, minNumberOfExecutedThings }] },
    documentParameters,
    schedulingConfig:
      scheduled === undefined
        ? undefined
        : { startTime: o.startTime, endTime: o.endTime, endBehavior: o.endBehavior as JobEndBehavior | undefined, maintenanceWindows },
  };
}
