/**
 * The gateway's own routes under `paths.prefix` (default `/gateway`). Later issues register login,
 * session and admin routes here; anything unknown under the prefix is a 404 and never proxied.
 */
import type { Exchange, Stage, StageResult } from "../pipeline/stage.js";
import { notFound } from "../errors.js";
import { sendError } from "../pipeline/respond.js";

export type RouteHandler = (x: Exchange) => StageResult | Promise<StageResult>;

export interface GatewayRoute {
  method: string | readonly string[];
  /** Path below the prefix, e.g. "/healthz". */
  path: string;
  name: string;
  handler: RouteHandler;
}

/**
 * @param name the stage's name in the pipeline
 * @param answerUnknown when true, unknown paths under the prefix get 404; when false they pass on
 *   (used for the routes that must answer before the router policy, such as health)
 */
export function gatewayRoutes(name: string, prefix: string, routes: readonly GatewayRoute[], answerUnknown = true): Stage {
  const table = new Map<string, GatewayRoute>();
  for (const route of routes) {
    for (const method of typeof route.method === "string" ? [route.method] : route.method) {
      table.set(`${method} ${prefix}${route.path}`, route);
    }
  }
  const under = `${prefix}/`;
  return {
    name,
    run(x) {
      const { path } = x.scope;
      if (path !== prefix && !path.startsWith(under)) return;
      const method = x.req.method === "HEAD" ? "GET" : x.req.method;
      const route = table.get(`${method} ${path}`);
      if (!route) {
        if (!answerUnknown) return;
        x.scope.route = "gateway:not-found";
        sendError(x.req, x.res, x.scope, notFound());
        return "done";
      }
      x.scope.route = `gateway:${route.name}`;
      return route.handler(x) ?? "done";
    },
  };
}
