export { dataplaneRoutes } from './routes.js';
