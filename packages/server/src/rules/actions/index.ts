/**
 * The action types Thicket runs, by their key in AWS's Action object. A new action type is one file
 * beside this one and one line in ACTION_KINDS.
 */
import { republish } from './republish.js';
import { http } from './http.js';
import { cloudwatchMetric } from './cloudwatch-metric.js';
import { nats } from './nats.js';
import { s3 } from './s3.js';
import { lambda } from './lambda.js';
import { dynamoDBv2, timestream } from './table.js';
import type { ActionKind } from './types.js';

export const ACTION_KINDS: readonly ActionKind[] = [republish, http, nats, s3, cloudwatchMetric, lambda, dynamoDBv2, timestream];

/** Every action key of AWS's Action object; those without an ActionKind here are refused by name at CreateTopicRule. */
export const AWS_ACTION_KEYS: readonly string[] = [
  'dynamoDB',
  'dynamoDBv2',
  'lambda',
  'sns',
  'sqs',
  'kinesis',
  'republish',
  's3',
  'firehose',
  'cloudwatchMetric',
  'cloudwatchAlarm',
  'cloudwatchLogs',
  'elasticsearch',
  'salesforce',
  'iotAnalytics',
  'iotEvents',
  'iotSiteWise',
  'stepFunctions',
  'timestream',
  'http',
  'kafka',
  'openSearch',
  'location',
];

export function actionKind(key: string): ActionKind | undefined {
  return ACTION_KINDS.find((k) => k.key === key);
}
