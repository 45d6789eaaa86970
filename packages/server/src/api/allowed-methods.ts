/**
 * The methods the API's routes accept on a request path, whatever method the request used: what
 * tells a wrong method on a known path (405) from a path that no operation has (404).
 */
import { AwsError } from '../aws/errors.js';

/** What this needs of a route (structural, so that aws-api.ts can import this module without a circle). */
export interface RouteShape {
  method: string;
  /** Fastify path syntax as the routes use it: literal segments, `:label` segments, a final `*`. */
  path: string;
  service: string;
}

interface CompiledRoute {
  pattern: RegExp;
  method: string;
  service: string;
}

/** The routes' methods, in the order they are listed to the caller. */
const ORDER = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

const escape = (literal: string): string => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * As Fastify's router matches: a label is one non-empty segment, `*` the rest of the path (slashes
 * included), everything else literally and case-sensitively.
 */
function compile(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => (segment === '*' ? '.*' : segment.startsWith(':') ? '[^/]+' : escape(segment)))
    .join('/');
  return new RegExp(`^${source}$`);
}

export class AllowedMethods {
  private readonly routes: CompiledRoute[];

  constructor(routes: readonly RouteShape[]) {
    this.routes = routes.map((r) => ({ pattern: compile(r.path), method: r.method, service: r.service }));
  }

  /** The routes whose path matches `path` (no query), of `service` when given. */
  private matching(path: string, service?: string): CompiledRoute[] {
    return this.routes.filter((r) => (service === undefined || r.service === service) && r.pattern.test(path));
  }

  /** The methods some route accepts on `path`, in a fixed order; empty when no route has the path. */
  methods(path: string, service?: string): string[] {
    const found = new Set(this.matching(path, service).map((r) => r.method));
    return ORDER.filter((m) => found.has(m));
  }

  /** The APIs that have a route on `path`. */
  services(path: string): string[] {
    return [...new Set(this.matching(path).map((r) => r.service))];
  }
}

/**
 * The 405 answer. iot-data models MethodNotAllowedException ("The specified combination of HTTP verb
 * and URI is not supported"). The iot and iot-jobs-data models have no 405 error: AWS's front end
 * answers a verb and URI it has no operation for with UnknownOperationException, so that code is
 * kept for them and only the status says that the path exists. `Allow` in the message mirrors the
 * header the caller sets (HTTP requires one on a 405).
 */
export function methodNotAllowed(services: readonly string[], method: string, path: string, allowed: readonly string[]): AwsError {
  const code = services.includes('iotdata') ? 'MethodNotAllowedException' : 'UnknownOperationException';
  return new AwsError(
    code,
    405,
    `The specified combination of HTTP verb and URI is not supported: ${method} ${path} (Allow: ${allowed.join(', ')})`,
  );
}
