/** The provisioning template `thicket simulate` makes when none is named. */

export const SIMULATOR_TEMPLATE = 'thicket-simulator';

/** The simulator's template: a thing per device named by its DeviceId, allowed only its own topics. */
export function simulatorTemplate(accountId: string, region: string): string {
  const arn = `arn:aws:iot:${region}:${accountId}`;
  const own = '${iot:Connection.Thing.ThingName}';
  const topics = [`dt/${own}/*`, `things/${own}/*`, `$aws/things/${own}/*`];
  return JSON.stringify({
    Parameters: { DeviceId: { Type: 'String' }, Group: { Type: 'String', Default: '' }, 'AWS::IoT::Certificate::Id': { Type: 'String' } },
    Conditions: { InGroup: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'Group' }, ''] }] } },
    Resources: {
      thing: {
        Type: 'AWS::IoT::Thing',
        Properties: {
          ThingName: { Ref: 'DeviceId' },
          AttributePayload: { simulated: 'true' },
          ThingGroups: { 'Fn::If': ['InGroup', [{ Ref: 'Group' }], { Ref: 'AWS::NoValue' }] },
        },
        OverrideSettings: { ThingGroups: 'MERGE' },
      },
      certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' } },
      policy: {
        Type: 'AWS::IoT::Policy',
        Properties: {
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Action: 'iot:Connect', Resource: `${arn}:client/${own}` },
              { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: topics.map((t) => `${arn}:topic/${t}`) },
              { Effect: 'Allow', Action: 'iot:Subscribe', Resource: topics.map((t) => `${arn}:topicfilter/${t}`) },
            ],
          },
        },
      },
    },
  });
}
