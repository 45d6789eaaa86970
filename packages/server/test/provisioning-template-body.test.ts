/** Provisioning template bodies: the checks at create, and resolving with parameters (intrinsics, conditions, mappings). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTemplate, resolveTemplate, type TemplateType } from '../src/provisioning/template-body.js';
import { TemplateError } from '../src/provisioning/template-intrinsics.js';

const resolve = (
  body: object,
  params: Record<string, string> = {},
  pseudo: Record<string, string> = {},
  type: TemplateType = 'FLEET_PROVISIONING',
) => resolveTemplate(parseTemplate(JSON.stringify(body), type), params, pseudo);

const refused = (body: unknown, type: TemplateType = 'FLEET_PROVISIONING'): string => {
  try {
    parseTemplate(typeof body === 'string' ? body : JSON.stringify(body), type);
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'InvalidRequestException');
    return (err as Error).message;
  }
  throw new Error('the template was accepted');
};

const FLEET = {
  Parameters: {
    SerialNumber: { Type: 'String' },
    Location: { Type: 'String', Default: 'WA' },
    'AWS::IoT::Certificate::Id': { Type: 'String' },
  },
  Mappings: { Sites: { WA: { Url: 'https://wa.example' }, OR: { Url: 'https://or.example' } } },
  Conditions: { InWA: { 'Fn::Equals': [{ Ref: 'Location' }, 'WA'] }, NotWA: { 'Fn::Not': [{ Condition: 'InWA' }] } },
  Resources: {
    thing: {
      Type: 'AWS::IoT::Thing',
      Properties: {
        ThingName: { 'Fn::Join': ['', ['lamp_', { Ref: 'SerialNumber' }]] },
        AttributePayload: { serial: { Ref: 'SerialNumber' }, site: { 'Fn::If': ['InWA', 'seattle', { Ref: 'AWS::NoValue' }] } },
        ThingGroups: { 'Fn::Split': [',', 'a,b'] },
      },
      OverrideSettings: { AttributePayload: 'MERGE', ThingGroups: 'DO_NOTHING' },
    },
    certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'Active' } },
    policy: {
      Type: 'AWS::IoT::Policy',
      Properties: {
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'iot:Publish',
              Resource: { 'Fn::Sub': 'arn:aws:iot:us-east-1:123456789012:topic/${Location}/${iot:Connection.Thing.ThingName}' },
            },
          ],
        },
      },
    },
    extra: { Type: 'AWS::IoT::Policy', Condition: 'NotWA', Properties: { PolicyName: 'outside' } },
  },
  DeviceConfiguration: {
    Url: { 'Fn::FindInMap': ['Sites', { Ref: 'Location' }, 'Url'] },
    Second: { 'Fn::Select': [1, { 'Fn::Split': ['/', 'x/y/z'] }] },
  },
};

test('a fleet template resolves: Join, Split, Select, Sub (policy variables untouched), FindInMap, If, NoValue, Conditions, Default', () => {
  const r = resolve(FLEET, { SerialNumber: '42' }, { 'AWS::IoT::Certificate::Id': 'abc' });
  assert.deepEqual(r.thing, {
    thingName: 'lamp_42',
    attributes: { serial: '42', site: 'seattle' },
    thingTypeName: undefined,
    thingGroups: ['a', 'b'],
    billingGroup: undefined,
    overrides: { AttributePayload: 'MERGE', ThingGroups: 'DO_NOTHING' },
  });
  assert.deepEqual(r.certificate, { source: { kind: 'id', certificateId: 'abc' }, status: 'ACTIVE', overrides: {} });
  assert.equal(r.policies.length, 1, 'the resource whose condition is false is left out');
  const doc = JSON.parse((r.policies[0] as { policyDocument: string }).policyDocument) as { Statement: Array<{ Resource: string }> };
  assert.equal(doc.Statement[0]!.Resource, 'arn:aws:iot:us-east-1:123456789012:topic/WA/${iot:Connection.Thing.ThingName}');
  assert.deepEqual(r.deviceConfiguration, { Url: 'https://wa.example', Second: 'y' });

  const other = resolve(FLEET, { SerialNumber: '7', Location: 'OR' }, { 'AWS::IoT::Certificate::Id': 'abc' });
  assert.deepEqual(other.thing!.attributes, { serial: '7' }, 'Fn::If chose AWS::NoValue: the attribute is left out');
  assert.deepEqual(other.policies[1], { policyName: 'outside' });
  assert.equal(other.deviceConfiguration.Url, 'https://or.example');
});

test('resolving names what cannot be resolved, in AWS words where AWS has them', () => {
  const fail = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      assert.ok(err instanceof TemplateError);
      return err.message;
    }
    throw new Error('resolved');
  };
  assert.equal(
    fail(() => resolve(FLEET, {}, { 'AWS::IoT::Certificate::Id': 'abc' })),
    'Cannot resolve reference value: SerialNumber',
  );
  assert.equal(
    fail(() => resolve(FLEET, { SerialNumber: '1', Location: 'XX' }, { 'AWS::IoT::Certificate::Id': 'abc' })),
    'Fn::FindInMap: no value for Sites / XX / Url in Mappings',
  );
  const select = { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::Select': [5, ['a']] } } } } };
  assert.match(
    fail(() => resolve(select)),
    /index 5 is outside the list of 1/,
  );
  const region = { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'AWS::Region' } } } } };
  assert.equal(
    fail(() => resolve(region)),
    'Cannot resolve reference value: AWS::Region',
  );
  const loop = {
    Conditions: { A: { 'Fn::Not': [{ Condition: 'B' }] }, B: { 'Fn::Not': [{ Condition: 'A' }] } },
    Resources: { t: { Type: 'AWS::IoT::Thing', Condition: 'A', Properties: { ThingName: 'x' } } },
  };
  assert.match(
    fail(() => resolve(loop)),
    /refers to itself/,
  );
});

test('a template that cannot work is refused at create, naming the problem', () => {
  assert.match(refused('{not json'), /not JSON/);
  assert.match(refused({ Resources: {} }), /at least one resource/);
  assert.match(refused({ Resourcez: {} }), /unknown section Resourcez/);
  assert.match(refused({ Resources: { t: { Type: 'AWS::IoT::Bucket' } } }), /Type AWS::IoT::Bucket/);
  assert.match(refused({ Resources: { t: { Type: 'AWS::IoT::Thing', Properties: {} } } }), /needs a ThingName/);
  assert.match(
    refused({ Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a', Color: 'red' } } } }),
    /unknown property Color/,
  );
  assert.match(
    refused({ Resources: { c: { Type: 'AWS::IoT::Certificate', Properties: { CertificateSigningRequest: 'x' } } } }),
    /fleet provisioning template names its certificate by CertificateId/,
  );
  assert.doesNotThrow(() =>
    parseTemplate(
      JSON.stringify({ Resources: { c: { Type: 'AWS::IoT::Certificate', Properties: { CertificateSigningRequest: 'x' } } } }),
      'JITP',
    ),
  );
  assert.match(
    refused({ Resources: { p: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: 'a', PolicyDocument: '{}' } } } }),
    /exactly one of PolicyName/,
  );
  assert.match(
    refused({
      Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a' }, OverrideSettings: { ThingTypeName: 'MERGE' } } },
    }),
    /cannot be MERGE/,
  );
  assert.match(refused({ Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::Base64': 'a' } } } } }), /Fn::Base64/);
  assert.match(
    refused({ Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a' } } }, DeviceConfiguration: { a: { b: 1 } } }),
    /must be flat/,
  );
  assert.match(
    refused({ Mappings: {}, Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a' } } } }, 'JITP'),
    /fleet provisioning templates only/,
  );
  assert.match(refused('x'.repeat(10_241)), /longer than 10240/);
});
