/** Topic rule destinations: store, service and routes, for rules/index.ts to list. */
export { DestinationStore, destinationMigrations, type DestinationRow, type DestinationStatus } from './destination-store.js';
export { TopicRuleDestinations, destinationArn, type HttpDestinations } from './destinations.js';
export { destinationRoutes } from './routes.js';
export { normalizedUrl, trustedPrefixes, urlProblem, urlUnder } from './urls.js';
