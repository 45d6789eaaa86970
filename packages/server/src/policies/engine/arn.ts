/** ARNs of the resources device actions are authorised against (reference dataplane §5.5). */

export type IotResourceKind = 'client' | 'topic' | 'topicfilter' | 'thing' | 'rolealias';

/** The ARN partition a region belongs to, so policies copied from China or GovCloud accounts match. */
function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/**
 * `arn:aws:iot:{region}:{account}:{kind}/{name}`. The name goes in verbatim — topics keep their `/`
 * levels and `$aws/...` prefixes, filters their `+` and `#`.
 */
export function iotResourceArn(region: string, account: string, kind: IotResourceKind, name: string): string {
  return `arn:${partitionOf(region)}:iot:${region}:${account}:${kind}/${name}`;
}
