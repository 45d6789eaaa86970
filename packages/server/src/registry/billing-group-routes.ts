/** HTTP routes of billing groups (client-iot *BillingGroup operations). */
import type { ApiRoute } from '../api/aws-api.js';
import { pageSize } from '../api/pagination.js';
import type { BillingGroups } from './billing-groups.js';

const MAX_RESULTS = 250;

export function billingGroupRoutes(groups: BillingGroups): ApiRoute[] {
  const size = (q: Record<string, string | undefined>): number => pageSize(q.maxResults, 'maxResults', MAX_RESULTS);
  return [
    {
      method: 'POST',
      path: '/billing-groups/:billingGroupName',
      service: 'iot',
      operation: 'CreateBillingGroup',
      handler: (r) => groups.create(r.ctx.ns, r.params.billingGroupName, r.body),
    },
    {
      method: 'GET',
      path: '/billing-groups/:billingGroupName',
      service: 'iot',
      operation: 'DescribeBillingGroup',
      readOnly: true,
      handler: (r) => groups.describe(r.ctx.ns, r.params.billingGroupName!),
    },
    {
      method: 'PATCH',
      path: '/billing-groups/:billingGroupName',
      service: 'iot',
      operation: 'UpdateBillingGroup',
      handler: (r) => groups.update(r.ctx.ns, r.params.billingGroupName!, r.body),
    },
    {
      method: 'DELETE',
      path: '/billing-groups/:billingGroupName',
      service: 'iot',
      operation: 'DeleteBillingGroup',
      handler: (r) => groups.delete(r.ctx.ns, r.params.billingGroupName!, r.query.expectedVersion),
    },
    {
      method: 'GET',
      path: '/billing-groups',
      service: 'iot',
      operation: 'ListBillingGroups',
      readOnly: true,
      handler: (r) =>
        groups.list(r.ctx.ns, { nextToken: r.query.nextToken, maxResults: size(r.query), namePrefixFilter: r.query.namePrefixFilter }),
    },
    {
      method: 'PUT',
      path: '/billing-groups/addThingToBillingGroup',
      service: 'iot',
      operation: 'AddThingToBillingGroup',
      handler: (r) => groups.addThing(r.ctx.ns, r.body),
    },
    {
      method: 'PUT',
      path: '/billing-groups/removeThingFromBillingGroup',
      service: 'iot',
      operation: 'RemoveThingFromBillingGroup',
      handler: (r) => groups.removeThing(r.ctx.ns, r.body),
    },
    {
      method: 'GET',
      path: '/billing-groups/:billingGroupName/things',
      service: 'iot',
      operation: 'ListThingsInBillingGroup',
      readOnly: true,
      handler: (r) => groups.listThings(r.ctx.ns, r.params.billingGroupName!, { nextToken: r.query.nextToken, maxResults: size(r.query) }),
    },
  ];
}
