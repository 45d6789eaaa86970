/**
 * The rules' external SQL functions, for the rules of one namespace (account and region): what a
 * rule reaches is always its own account's and region's, whatever ARN it names.
 *
 * - `aws_lambda(functionArn, inputJson)`: invokes a registered function synchronously and returns
 *   its result; the evaluation waits at most AWS_LAMBDA_WAIT_MS.
 * - `get_thing_shadow(thingName[, shadowName], roleArn)`: the shadow document as GetThingShadow
 *   returns it (state, metadata, version, timestamp); a shadow that does not exist fails the call.
 * - `get_registry_data(registryAPI, thingName, roleArn)`: `DescribeThing` or `ListThingGroupsForThing`,
 *   answered as those APIs answer.
 * - Every other external function needs an AWS service Thicket does not have, and fails saying so.
 *
 * A failed call makes the function Undefined and lists the failure, so the rule's error action runs.
 */
import type { SqlHost } from '@thicket/iot-sql';
import type { Namespace } from '../accounts/namespace.js';
import { parseFunctionArn, resolveFunctionRef } from '../functions/function-names.js';

/** How long `aws_lambda()` holds a message's evaluation (reference controlplane §4.5: a 2 s budget). */
export const AWS_LAMBDA_WAIT_MS = 2_000;

export interface SqlHostServices {
  invokeFunction(ns: Namespace, ref: string, event: unknown, opts: { maxWaitMs: number }): Promise<unknown>;
  /** The shadow document (GetThingShadow's answer), read from the database; rejects when it does not exist. */
  shadow(ns: Namespace, thingName: string, shadowName: string): Promise<unknown>;
  /** DescribeThing's answer; throws when the thing does not exist. */
  describeThing(ns: Namespace, thingName: string): unknown;
  /** ListThingGroupsForThing's answer; throws when the thing does not exist. */
  thingGroupsForThing(ns: Namespace, thingName: string): unknown;
}

/** The AWS service each unsupported external function needs. */
const AWS_ONLY: Record<string, string> = {
  get_dynamodb: 'Amazon DynamoDB',
  get_secret: 'AWS Secrets Manager',
  machinelearning_predict: 'Amazon Machine Learning',
};

const ROLE_ARN = /^arn:aws[a-zA-Z-]*:iam::(\d{12}):role\/[\w+=,.@/-]{1,512}$/;

function text(fn: string, what: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new Error(`${fn}(): ${what} must be a non-empty string`);
  return v;
}

/** The roleArn argument: a role of the rule's own account (Thicket reads with the rule's rights, not the role's). */
function checkRole(fn: string, ns: Namespace, v: unknown): void {
  const arn = text(fn, 'roleArn', v);
  const m = ROLE_ARN.exec(arn);
  if (!m) throw new Error(`${fn}(): roleArn '${arn}' is not an IAM role ARN`);
  if (m[1] !== ns.accountId)
    throw new Error(`${fn}(): roleArn ${arn} belongs to account ${m[1]}; a rule reaches its own account (${ns.accountId}) only`);
}

function message(err: unknown): string {
  const e = err as Error & { errorType?: string };
  return `${e.errorType && !e.message.startsWith(e.errorType) ? `${e.errorType}: ` : ''}${e.message}`;
}

export function createSqlHost(ns: Namespace, s: SqlHostServices): SqlHost {
  return {
    call(name, args) {
      switch (name) {
        case 'aws_lambda': {
          const arn = text(name, 'functionArn', args[0]);
          if (!parseFunctionArn(arn)) throw new Error(`aws_lambda(): '${arn}' is not a Lambda function ARN`);
          const r = resolveFunctionRef(ns, arn);
          if ('refused' in r) throw new Error(`aws_lambda(): ${r.refused}`);
          return s.invokeFunction(ns, arn, args[1] ?? null, { maxWaitMs: AWS_LAMBDA_WAIT_MS }).catch((err: unknown) => {
            throw new Error(`aws_lambda(): ${message(err)}`);
          });
        }
        case 'get_thing_shadow': {
          const thingName = text(name, 'thingName', args[0]);
          const shadowName = args.length === 3 ? text(name, 'shadowName', args[1]) : '';
          checkRole(name, ns, args[args.length - 1]);
          return s.shadow(ns, thingName, shadowName).catch((err: unknown) => {
            throw new Error(`get_thing_shadow(): ${(err as Error).message}`, { cause: err });
          });
        }
        case 'get_registry_data': {
          const api = text(name, 'registryAPI', args[0]);
          const thingName = text(name, 'thingName', args[1]);
          checkRole(name, ns, args[2]);
          try {
            if (api === 'DescribeThing') return s.describeThing(ns, thingName);
            if (api === 'ListThingGroupsForThing') return s.thingGroupsForThing(ns, thingName);
          } catch (err) {
            throw new Error(`get_registry_data(): ${(err as Error).message}`, { cause: err });
          }
          throw new Error(`get_registry_data(): registryAPI must be DescribeThing or ListThingGroupsForThing, not '${api}'`);
        }
        default: {
          const service = AWS_ONLY[name] ?? 'an AWS service';
          throw new Error(`${name}() needs ${service}, which Thicket does not have`);
        }
      }
    },
  };
}
