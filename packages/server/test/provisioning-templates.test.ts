/**
 * The provisioning templates API with @aws-sdk/client-iot: create, describe, list, update,
 * versions (create, list, describe, set default, delete, the limit of five), delete; AWS's errors;
 * RegisterThing with a certificate from a CSR; tags on templates.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateProvisioningTemplateCommand,
  CreateProvisioningTemplateVersionCommand,
  DeleteProvisioningTemplateCommand,
  DeleteProvisioningTemplateVersionCommand,
  DescribeCertificateCommand,
  DescribeProvisioningTemplateCommand,
  DescribeProvisioningTemplateVersionCommand,
  DescribeThingCommand,
  IoTClient,
  ListProvisioningTemplatesCommand,
  ListProvisioningTemplateVersionsCommand,
  ListTagsForResourceCommand,
  RegisterThingCommand,
  UpdateProvisioningTemplateCommand,
} from '@aws-sdk/client-iot';
import { x509 } from '../src/pki/x509.js';
import { awsError, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
let iot: IoTClient;
const ROLE = 'arn:aws:iam::123456789012:role/Provisioning';
const body = (thingName: string) =>
  JSON.stringify({ Resources: { thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: thingName } } } });

before(async () => {
  server = await startTestServer();
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
});
after(async () => {
  iot.destroy();
  await server.close();
});

test('create, describe, list, update and delete a template, as the AWS SDK sees them', async () => {
  const created = await iot.send(
    new CreateProvisioningTemplateCommand({
      templateName: 'lamps',
      description: 'the lamps',
      templateBody: body('a'),
      provisioningRoleArn: ROLE,
      tags: [{ Key: 'team', Value: 'home' }],
    }),
  );
  assert.equal(created.templateArn, 'arn:aws:iot:us-east-1:123456789012:provisioningtemplate/lamps');
  assert.equal(created.defaultVersionId, 1);
  const d = await iot.send(new DescribeProvisioningTemplateCommand({ templateName: 'lamps' }));
  assert.equal(d.enabled, false, 'a template is disabled unless created enabled');
  assert.equal(d.type, 'FLEET_PROVISIONING');
  assert.equal(d.templateBody, body('a'));
  assert.equal(d.provisioningRoleArn, ROLE);
  assert.ok(d.creationDate instanceof Date && Math.abs(d.creationDate.getTime() - Date.now()) < 60_000);
  const tags = await iot.send(new ListTagsForResourceCommand({ resourceArn: created.templateArn }));
  assert.deepEqual(tags.tags, [{ Key: 'team', Value: 'home' }]);

  await iot.send(
    new UpdateProvisioningTemplateCommand({
      templateName: 'lamps',
      enabled: true,
      description: 'all lamps',
      preProvisioningHook: { targetArn: 'arn:aws:lambda:us-east-1:123456789012:function:check' },
    }),
  );
  const u = await iot.send(new DescribeProvisioningTemplateCommand({ templateName: 'lamps' }));
  assert.equal(u.enabled, true);
  assert.equal(u.description, 'all lamps');
  assert.deepEqual(u.preProvisioningHook, {
    targetArn: 'arn:aws:lambda:us-east-1:123456789012:function:check',
    payloadVersion: '2020-04-01',
  });
  await iot.send(new UpdateProvisioningTemplateCommand({ templateName: 'lamps', removePreProvisioningHook: true }));
  assert.equal((await iot.send(new DescribeProvisioningTemplateCommand({ templateName: 'lamps' }))).preProvisioningHook, undefined);

  await iot.send(
    new CreateProvisioningTemplateCommand({ templateName: 'jitp', templateBody: body('b'), provisioningRoleArn: ROLE, type: 'JITP' }),
  );
  const page1 = await iot.send(new ListProvisioningTemplatesCommand({ maxResults: 1 }));
  assert.deepEqual(
    page1.templates?.map((t) => [t.templateName, t.type, t.enabled]),
    [['jitp', 'JITP', false]],
  );
  const page2 = await iot.send(new ListProvisioningTemplatesCommand({ maxResults: 1, nextToken: page1.nextToken }));
  assert.deepEqual(
    page2.templates?.map((t) => t.templateName),
    ['lamps'],
  );
  assert.equal(page2.nextToken, undefined);

  await iot.send(new DeleteProvisioningTemplateCommand({ templateName: 'jitp' }));
  const gone = await awsError(iot.send(new DescribeProvisioningTemplateCommand({ templateName: 'jitp' })));
  assert.deepEqual(gone, { name: 'ResourceNotFoundException', message: 'The provisioning template jitp does not exist', status: 404 });
  await iot.send(new DeleteProvisioningTemplateCommand({ templateName: 'lamps' }));
});

test('versions: numbered from 1, a new default, at most five, the default not deletable', async () => {
  await iot.send(new CreateProvisioningTemplateCommand({ templateName: 'v', templateBody: body('v1'), provisioningRoleArn: ROLE }));
  const v2 = await iot.send(new CreateProvisioningTemplateVersionCommand({ templateName: 'v', templateBody: body('v2') }));
  assert.deepEqual([v2.versionId, v2.isDefaultVersion], [2, false]);
  const v3 = await iot.send(
    new CreateProvisioningTemplateVersionCommand({ templateName: 'v', templateBody: body('v3'), setAsDefault: true }),
  );
  assert.deepEqual([v3.versionId, v3.isDefaultVersion], [3, true]);
  assert.equal((await iot.send(new DescribeProvisioningTemplateCommand({ templateName: 'v' }))).templateBody, body('v3'));
  const dv = await iot.send(new DescribeProvisioningTemplateVersionCommand({ templateName: 'v', versionId: 2 }));
  assert.deepEqual([dv.versionId, dv.templateBody, dv.isDefaultVersion], [2, body('v2'), false]);

  await iot.send(new CreateProvisioningTemplateVersionCommand({ templateName: 'v', templateBody: body('v4') }));
  await iot.send(new CreateProvisioningTemplateVersionCommand({ templateName: 'v', templateBody: body('v5') }));
  const sixth = await awsError(iot.send(new CreateProvisioningTemplateVersionCommand({ templateName: 'v', templateBody: body('v6') })));
  assert.equal(sixth.name, 'VersionsLimitExceededException');
  assert.equal(sixth.status, 409);

  const defaultDelete = await awsError(iot.send(new DeleteProvisioningTemplateVersionCommand({ templateName: 'v', versionId: 3 })));
  assert.equal(defaultDelete.name, 'DeleteConflictException');
  await iot.send(new DeleteProvisioningTemplateVersionCommand({ templateName: 'v', versionId: 1 }));
  await iot.send(new UpdateProvisioningTemplateCommand({ templateName: 'v', defaultVersionId: 5 }));
  const list = await iot.send(new ListProvisioningTemplateVersionsCommand({ templateName: 'v' }));
  assert.deepEqual(
    list.versions?.map((v) => [v.versionId, v.isDefaultVersion]),
    [
      [2, false],
      [3, false],
      [4, false],
      [5, true],
    ],
  );
  // Numbers are not reused: the next version after deleting one is 6.
  const v6 = await iot.send(new CreateProvisioningTemplateVersionCommand({ templateName: 'v', templateBody: body('v6') }));
  assert.equal(v6.versionId, 6);
  const missing = await awsError(iot.send(new UpdateProvisioningTemplateCommand({ templateName: 'v', defaultVersionId: 1 })));
  assert.equal(missing.name, 'ResourceNotFoundException');
});

test('bad input gets AWS’s exceptions with messages that name the problem', async () => {
  const create = (input: Record<string, unknown>) =>
    awsError(
      iot.send(
        new CreateProvisioningTemplateCommand({
          templateName: 'bad',
          templateBody: body('x'),
          provisioningRoleArn: ROLE,
          ...input,
        } as never),
      ),
    );
  const name = await create({ templateName: 'no spaces' });
  assert.equal(name.name, 'InvalidRequestException');
  assert.match(name.message, /templateName/);
  assert.match((await create({ provisioningRoleArn: 'not-an-arn' })).message, /provisioningRoleArn/);
  assert.match((await create({ templateBody: '{"Resources":{"x":{"Type":"AWS::S3::Bucket"}}}' })).message, /Type AWS::S3::Bucket/);
  const hook = await create({ type: 'JITP', preProvisioningHook: { targetArn: 'arn:aws:lambda:us-east-1:123456789012:function:f' } });
  assert.match(hook.message, /FLEET_PROVISIONING templates only/);
  await iot.send(new CreateProvisioningTemplateCommand({ templateName: 'dup', templateBody: body('x'), provisioningRoleArn: ROLE }));
  const dup = await awsError(
    iot.send(new CreateProvisioningTemplateCommand({ templateName: 'dup', templateBody: body('x'), provisioningRoleArn: ROLE })),
  );
  assert.equal(dup.name, 'ResourceAlreadyExistsException');
  const version = await awsError(iot.send(new CreateProvisioningTemplateVersionCommand({ templateName: 'dup', templateBody: '[]' })));
  assert.equal(version.name, 'InvalidRequestException');
  assert.equal(
    (await awsError(iot.send(new DescribeProvisioningTemplateVersionCommand({ templateName: 'dup', versionId: 9 })))).name,
    'ResourceNotFoundException',
  );
});

test('RegisterThing runs a template body: a certificate from a CSR, a thing with attributes, a policy attached', async () => {
  const keys = await globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=reg-1',
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  const templateBody = JSON.stringify({
    Parameters: { ThingName: { Type: 'String' }, CSR: { Type: 'String' } },
    Resources: {
      thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'ThingName' }, AttributePayload: { model: 'x1' } } },
      certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateSigningRequest: { Ref: 'CSR' }, Status: 'ACTIVE' } },
      policy: {
        Type: 'AWS::IoT::Policy',
        Properties: { PolicyDocument: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}' },
      },
    },
  });
  const r = await iot.send(new RegisterThingCommand({ templateBody, parameters: { ThingName: 'reg-1', CSR: csr.toString('pem') } }));
  assert.match(r.certificatePem!, /BEGIN CERTIFICATE/);
  assert.equal(r.resourceArns?.thing, 'arn:aws:iot:us-east-1:123456789012:thing/reg-1');
  const certificateId = r.resourceArns!.certificate!.split('/')[1]!;
  assert.equal((await iot.send(new DescribeCertificateCommand({ certificateId }))).certificateDescription?.status, 'ACTIVE');
  assert.deepEqual((await iot.send(new DescribeThingCommand({ thingName: 'reg-1' }))).attributes, { model: 'x1' });

  const missing = await awsError(iot.send(new RegisterThingCommand({ templateBody, parameters: { ThingName: 'reg-2' } })));
  assert.deepEqual([missing.name, missing.message], ['ResourceRegistrationFailureException', 'Cannot resolve reference value: CSR']);
  await assert.rejects(iot.send(new DescribeThingCommand({ thingName: 'reg-2' })), /ResourceNotFound/);
  const group = JSON.stringify({
    Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'reg-3', ThingGroups: ['no-such-group'] } } },
  });
  const noGroup = await awsError(iot.send(new RegisterThingCommand({ templateBody: group })));
  assert.deepEqual(
    [noGroup.name, noGroup.message],
    ['ResourceRegistrationFailureException', 'The thing group no-such-group does not exist'],
  );
});

test('OverrideSettings on a thing that exists: DO_NOTHING by default, REPLACE, MERGE, and FAIL with ResourceConflicts', async () => {
  const { CreateThingCommand, CreateThingGroupCommand, AddThingToThingGroupCommand, ListThingGroupsForThingCommand } =
    await import('@aws-sdk/client-iot');
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'old-group' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'new-group' }));
  const reset = async (name: string) => {
    await iot.send(new CreateThingCommand({ thingName: name, attributePayload: { attributes: { a: '1', keep: 'yes' } } }));
    await iot.send(new AddThingToThingGroupCommand({ thingName: name, thingGroupName: 'old-group' }));
  };
  const run = (name: string, overrides: Record<string, string>) =>
    iot.send(
      new RegisterThingCommand({
        templateBody: JSON.stringify({
          Resources: {
            thing: {
              Type: 'AWS::IoT::Thing',
              Properties: { ThingName: name, AttributePayload: { a: '2', b: '3' }, ThingGroups: ['new-group'] },
              OverrideSettings: overrides,
            },
          },
        }),
      }),
    );
  const state = async (name: string) => ({
    attributes: (await iot.send(new DescribeThingCommand({ thingName: name }))).attributes,
    groups: ((await iot.send(new ListThingGroupsForThingCommand({ thingName: name }))).thingGroups ?? []).map((g) => g.groupName).sort(),
  });

  await reset('o-nothing');
  await run('o-nothing', {});
  assert.deepEqual(await state('o-nothing'), { attributes: { a: '1', keep: 'yes' }, groups: ['old-group'] });

  await reset('o-replace');
  await run('o-replace', { AttributePayload: 'REPLACE', ThingGroups: 'REPLACE' });
  assert.deepEqual(await state('o-replace'), { attributes: { a: '2', b: '3' }, groups: ['new-group'] });

  await reset('o-merge');
  await run('o-merge', { AttributePayload: 'MERGE', ThingGroups: 'MERGE' });
  assert.deepEqual(await state('o-merge'), { attributes: { a: '2', b: '3', keep: 'yes' }, groups: ['new-group', 'old-group'] });

  await reset('o-fail');
  const failed = await awsError(run('o-fail', { AttributePayload: 'FAIL' }));
  assert.deepEqual([failed.name, failed.message], ['ConflictingResourceUpdateException', 'Thing o-fail exists with other attributes']);
  assert.deepEqual(await state('o-fail'), { attributes: { a: '1', keep: 'yes' }, groups: ['old-group'] }, 'nothing changed');
});
