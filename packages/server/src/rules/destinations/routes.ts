/** HTTP routes of topic rule destinations, paths as the AWS SDK sends them (reference controlplane §4.1). */
import type { ApiRoute } from '../../api/aws-api.js';
import type { TopicRuleDestinations } from './destinations.js';

export function destinationRoutes(d: TopicRuleDestinations): ApiRoute[] {
  return [
    {
      method: 'POST',
      path: '/destinations',
      service: 'iot',
      operation: 'CreateTopicRuleDestination',
      handler: (r) => d.create(r.ctx.ns, r.body),
    },
    {
      method: 'GET',
      path: '/destinations',
      service: 'iot',
      operation: 'ListTopicRuleDestinations',
      readOnly: true,
      handler: (r) => d.list(r.ctx.ns, r.query),
    },
    {
      method: 'GET',
      path: '/destinations/*',
      service: 'iot',
      operation: 'GetTopicRuleDestination',
      readOnly: true,
      handler: (r) => d.get(r.ctx.ns, r.params['*']),
    },
    {
      method: 'PATCH',
      path: '/destinations',
      service: 'iot',
      operation: 'UpdateTopicRuleDestination',
      handler: (r) => d.update(r.ctx.ns, r.body),
    },
    {
      method: 'DELETE',
      path: '/destinations/*',
      service: 'iot',
      operation: 'DeleteTopicRuleDestination',
      handler: (r) => d.delete(r.ctx.ns, r.params['*']),
    },
    {
      method: 'GET',
      path: '/confirmdestination/*',
      service: 'iot',
      operation: 'ConfirmTopicRuleDestination',
      handler: (r) => d.confirm(r.ctx.ns, r.params['*']),
    },
  ];
}
