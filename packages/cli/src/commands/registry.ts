/** `thicket things`, `thicket thing-types`, `thicket groups`, `thicket billing-groups`: the registry over the API. */
import type { Command } from 'commander';
import {
  AddThingToBillingGroupCommand,
  AddThingToThingGroupCommand,
  CreateBillingGroupCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  CreateThingTypeCommand,
  DeleteBillingGroupCommand,
  DeleteThingCommand,
  DeleteThingGroupCommand,
  DeleteThingTypeCommand,
  DeprecateThingTypeCommand,
  DescribeBillingGroupCommand,
  DescribeThingCommand,
  DescribeThingGroupCommand,
  DescribeThingTypeCommand,
  ListBillingGroupsCommand,
  ListThingGroupsCommand,
  ListThingsCommand,
  ListThingsInBillingGroupCommand,
  ListThingsInThingGroupCommand,
  ListThingTypesCommand,
  RemoveThingFromBillingGroupCommand,
  RemoveThingFromThingGroupCommand,
  UpdateThingCommand,
  type ThingAttribute,
} from '@aws-sdk/client-iot';
import { apiOptions, withClient, type ApiOptions } from '../api-client.js';
import { namedValues } from '../arguments.js';
import { fields, print, table } from '../output.js';

/** Follows nextToken to the end. */
export async function all<T>(
  fetch: (token: string | undefined) => Promise<{ items: T[] | undefined; next: string | undefined }>,
): Promise<T[]> {
  const out: T[] = [];
  let token: string | undefined;
  do {
    const page = await fetch(token);
    out.push(...(page.items ?? []));
    token = page.next;
  } while (token);
  return out;
}

export function registerRegistry(program: Command): void {
  const things = program.command('things').description('things in the registry');
  apiOptions(things.command('list').description('list things'))
    .option('--type <thingType>', 'only things of this type')
    .option('--attribute <name=value>', 'only things with this attribute value')
    .action((o: ApiOptions & { type?: string; attribute?: string }) =>
      withClient(o, async (iot) => {
        const [name, value] = o.attribute?.split('=') ?? [];
        const list = await all<ThingAttribute>(async (nextToken) => {
          const r = await iot.send(new ListThingsCommand({ nextToken, thingTypeName: o.type, attributeName: name, attributeValue: value }));
          return { items: r.things, next: r.nextToken };
        });
        print(o.json, { things: list }, () => table(list, ['thingName', 'thingTypeName', 'version', 'attributes']));
      }),
    );
  apiOptions(things.command('describe <thingName>').description('show a thing')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DescribeThingCommand({ thingName: name }));
      print(o.json, r, () => fields(r, ['thingName', 'thingArn', 'thingId', 'thingTypeName', 'billingGroupName', 'version', 'attributes']));
    }),
  );
  apiOptions(things.command('create <thingName>').description('create a thing'))
    .option('--type <thingType>', 'thing type')
    .option('--attr <name=value...>', 'attributes')
    .action((name: string, o: ApiOptions & { type?: string; attr?: string[] }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(
          new CreateThingCommand({
            thingName: name,
            thingTypeName: o.type,
            attributePayload: { attributes: namedValues(o.attr, '--attr') },
          }),
        );
        print(o.json, r, () => `created thing ${r.thingName} (${r.thingArn})\n`);
      }),
    );
  apiOptions(things.command('update <thingName>').description('change attributes or type'))
    .option('--attr <name=value...>', 'attributes (replace all, or merge with --merge; an empty value removes one when merging)')
    .option('--merge', 'merge attributes instead of replacing them')
    .option('--type <thingType>', 'set the thing type')
    .option('--remove-type', 'remove the thing type')
    .action((name: string, o: ApiOptions & { attr?: string[]; merge?: boolean; type?: string; removeType?: boolean }) =>
      withClient(o, async (iot) => {
        const attrs = namedValues(o.attr, '--attr');
        const r = await iot.send(
          new UpdateThingCommand({
            thingName: name,
            thingTypeName: o.type,
            removeThingType: o.removeType,
            attributePayload: attrs ? { attributes: attrs, merge: o.merge } : undefined,
          }),
        );
        print(o.json, r, () => `updated thing ${name}\n`);
      }),
    );
  apiOptions(things.command('delete <thingName>').description('delete a thing')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DeleteThingCommand({ thingName: name }));
      print(o.json, r, () => `deleted thing ${name}\n`);
    }),
  );

  const types = program.command('thing-types').description('thing types');
  apiOptions(types.command('list').description('list thing types')).action((o: ApiOptions) =>
    withClient(o, async (iot) => {
      const list = await all(async (nextToken) => {
        const r = await iot.send(new ListThingTypesCommand({ nextToken }));
        return { items: r.thingTypes, next: r.nextToken };
      });
      const rows = list.map((t) => ({
        name: t.thingTypeName,
        deprecated: t.thingTypeMetadata?.deprecated,
        description: t.thingTypeProperties?.thingTypeDescription,
      }));
      print(o.json, { thingTypes: list }, () => table(rows, ['name', 'deprecated', 'description']));
    }),
  );
  apiOptions(types.command('create <name>').description('create a thing type'))
    .option('--description <text>', 'description')
    .option('--searchable <attribute...>', 'searchable attributes (at most 3)')
    .action((name: string, o: ApiOptions & { description?: string; searchable?: string[] }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(
          new CreateThingTypeCommand({
            thingTypeName: name,
            thingTypeProperties: { thingTypeDescription: o.description, searchableAttributes: o.searchable },
          }),
        );
        print(o.json, r, () => `created thing type ${r.thingTypeName}\n`);
      }),
    );
  apiOptions(types.command('describe <name>').description('show a thing type')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DescribeThingTypeCommand({ thingTypeName: name }));
      print(o.json, r, () => fields(r, ['thingTypeName', 'thingTypeArn', 'thingTypeProperties', 'thingTypeMetadata']));
    }),
  );
  apiOptions(types.command('deprecate <name>').description('deprecate a thing type (no new things of it)'))
    .option('--undo', 'undo the deprecation')
    .action((name: string, o: ApiOptions & { undo?: boolean }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new DeprecateThingTypeCommand({ thingTypeName: name, undoDeprecate: o.undo }));
        print(o.json, r, () => `${o.undo ? 'undeprecated' : 'deprecated'} thing type ${name}\n`);
      }),
    );
  apiOptions(types.command('delete <name>').description('delete a deprecated thing type')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DeleteThingTypeCommand({ thingTypeName: name }));
      print(o.json, r, () => `deleted thing type ${name}\n`);
    }),
  );

  const groups = program.command('groups').description('static thing groups');
  apiOptions(groups.command('list').description('list thing groups'))
    .option('--parent <group>', 'children of this group')
    .option('--recursive', 'all descendants')
    .action((o: ApiOptions & { parent?: string; recursive?: boolean }) =>
      withClient(o, async (iot) => {
        const list = await all(async (nextToken) => {
          // With a parent, AWS lists all descendants unless recursive is false: --parent alone means children.
          const recursive = o.parent === undefined ? o.recursive : (o.recursive ?? false);
          const r = await iot.send(new ListThingGroupsCommand({ nextToken, parentGroup: o.parent, recursive }));
          return { items: r.thingGroups, next: r.nextToken };
        });
        print(o.json, { thingGroups: list }, () => table(list, ['groupName', 'groupArn']));
      }),
    );
  apiOptions(groups.command('create <name>').description('create a thing group'))
    .option('--parent <group>', 'parent group')
    .option('--description <text>', 'description')
    .action((name: string, o: ApiOptions & { parent?: string; description?: string }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(
          new CreateThingGroupCommand({
            thingGroupName: name,
            parentGroupName: o.parent,
            thingGroupProperties: { thingGroupDescription: o.description },
          }),
        );
        print(o.json, r, () => `created thing group ${r.thingGroupName}\n`);
      }),
    );
  apiOptions(groups.command('describe <name>').description('show a thing group')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DescribeThingGroupCommand({ thingGroupName: name }));
      print(o.json, r, () => fields(r, ['thingGroupName', 'thingGroupArn', 'version', 'thingGroupProperties', 'thingGroupMetadata']));
    }),
  );
  apiOptions(groups.command('delete <name>').description('delete a thing group')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DeleteThingGroupCommand({ thingGroupName: name }));
      print(o.json, r, () => `deleted thing group ${name}\n`);
    }),
  );
  apiOptions(groups.command('add <group> <thing>').description('add a thing to a group')).action(
    (group: string, thing: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new AddThingToThingGroupCommand({ thingGroupName: group, thingName: thing }));
        print(o.json, r, () => `added ${thing} to ${group}\n`);
      }),
  );
  apiOptions(groups.command('remove <group> <thing>').description('remove a thing from a group')).action(
    (group: string, thing: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new RemoveThingFromThingGroupCommand({ thingGroupName: group, thingName: thing }));
        print(o.json, r, () => `removed ${thing} from ${group}\n`);
      }),
  );
  apiOptions(groups.command('things <group>').description('things in a group'))
    .option('--recursive', 'include things of child groups')
    .action((group: string, o: ApiOptions & { recursive?: boolean }) =>
      withClient(o, async (iot) => {
        const list = await all(async (nextToken) => {
          const r = await iot.send(new ListThingsInThingGroupCommand({ thingGroupName: group, nextToken, recursive: o.recursive }));
          return { items: r.things, next: r.nextToken };
        });
        print(o.json, { things: list }, () => (list.length ? list.join('\n') + '\n' : '(none)\n'));
      }),
    );

  registerBillingGroups(program);
}

/** Billing groups: flat groups for cost allocation; a thing is in at most one. */
function registerBillingGroups(program: Command): void {
  const billing = program.command('billing-groups').description('billing groups (a thing is in at most one)');
  apiOptions(billing.command('list').description('list billing groups'))
    .option('--prefix <prefix>', 'names starting with this')
    .action((o: ApiOptions & { prefix?: string }) =>
      withClient(o, async (iot) => {
        const list = await all(async (nextToken) => {
          const r = await iot.send(new ListBillingGroupsCommand({ nextToken, namePrefixFilter: o.prefix }));
          return { items: r.billingGroups, next: r.nextToken };
        });
        print(o.json, { billingGroups: list }, () => table(list, ['groupName', 'groupArn']));
      }),
    );
  apiOptions(billing.command('create <name>').description('create a billing group'))
    .option('--description <text>', 'description')
    .action((name: string, o: ApiOptions & { description?: string }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(
          new CreateBillingGroupCommand({ billingGroupName: name, billingGroupProperties: { billingGroupDescription: o.description } }),
        );
        print(o.json, r, () => `created billing group ${r.billingGroupName}\n`);
      }),
    );
  apiOptions(billing.command('describe <name>').description('show a billing group')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DescribeBillingGroupCommand({ billingGroupName: name }));
      print(o.json, r, () =>
        fields(r, ['billingGroupName', 'billingGroupArn', 'version', 'billingGroupProperties', 'billingGroupMetadata']),
      );
    }),
  );
  apiOptions(billing.command('delete <name>').description('delete a billing group (its things stay, in none)')).action(
    (name: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new DeleteBillingGroupCommand({ billingGroupName: name }));
        print(o.json, r, () => `deleted billing group ${name}\n`);
      }),
  );
  apiOptions(billing.command('add <group> <thing>').description('put a thing in a billing group (out of any other)')).action(
    (group: string, thing: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new AddThingToBillingGroupCommand({ billingGroupName: group, thingName: thing }));
        print(o.json, r, () => `added ${thing} to billing group ${group}\n`);
      }),
  );
  apiOptions(billing.command('remove <group> <thing>').description('take a thing out of a billing group')).action(
    (group: string, thing: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new RemoveThingFromBillingGroupCommand({ billingGroupName: group, thingName: thing }));
        print(o.json, r, () => `removed ${thing} from billing group ${group}\n`);
      }),
  );
  apiOptions(billing.command('things <group>').description('things in a billing group')).action((group: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const list = await all(async (nextToken) => {
        const r = await iot.send(new ListThingsInBillingGroupCommand({ billingGroupName: group, nextToken }));
        return { items: r.things, next: r.nextToken };
      });
      print(o.json, { things: list }, () => (list.length ? list.join('\n') + '\n' : '(none)\n'));
    }),
  );
}
