/**
 * The gateway's own routes under `paths.prefix` (default `/gateway`). Paths may hold `{name}`
 * parameters. Routes marked `tlsOnly` are redirected to the TLS port when they arrive in plaintext
 * (OMERO's allow mode: login, password and admin pages need TLS). Anything unknown under the prefix
 * is a 404 and never proxied.
 */
import type { Exchange, Stage, StageResult } from "../pipeline/stage.js";
import { notFound } from "../errors.js";
import { redirect, refuseText, sendError } from "../pipeline/respond.js";
import { tlsUrl } from "../listeners/router-policy.js";

export type RouteHandler = (x: Exchange, params: Record<string, string>) => StageResult | Promise<StageResult>;

export interface GatewayRoute {
  method: string | readonly string[];
  /** Path below the prefix, e.g. "/healthz" or "/admin/users/{name}/unlock". */
  path: string;
  name: string;
  handler: RouteHandler;
  /** Only over TLS: a plaintext request is redirected to the same path on the TLS port. */
  tlsOnly?: boolean;
}

interface Compiled {
  route: GatewayRoute;
  methods: readonly string[];
  pattern: RegExp | null;
  names: string[];
  exact: string;
}

function compile(prefix: string, route: GatewayRoute): Compiled {
  const names: string[] = [];
  const full = `${prefix}${route.path}`;
  const hasParams = full.includes("{");
  const pattern = hasParams
    ? new RegExp(`^${full.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w+)\}/g, (_m, name: string) => (names.push(name), "([^/]+)"))}$`)
    : null;
  return { route, methods: typeof route.method === "string" ? [route.method] : route.method, pattern, names, exact: full };
}

/**
 * @param name the stage's name in the pipeline
 * @param answerUnknown when true, unknown paths under the prefix get 404; when false they pass on
 *   (used for the routes that must answer before the router policy, such as health)
 * @param securePort the TLS port, for `tlsOnly` redirects
 * @param publicUrl when set, where `tlsOnly` redirects point instead of the request's Host (SPEC §5)
 */
export function gatewayRoutes(name: string, prefix: string, routes: readonly GatewayRoute[], answerUnknown = true, securePort?: () => number, publicUrl?: string): Stage {
  const compiled = routes.map((r) => compile(prefix, r));
  const under = `${prefix}/`;
  return {
    name,
    run(x) {
      const { path } = x.scope;
      if (path !== prefix && !path.startsWith(under)) return;
      const method = x.req.method === "HEAD" ? "GET" : (x.req.method ?? "GET");
      let pathMatched = false;
      for (const c of compiled) {
        let params: Record<string, string> | null = null;
        if (c.pattern === null) {
          if (c.exact === path) params = {};
        } else {
          const m = c.pattern.exec(path);
          if (m) params = Object.fromEntries(c.names.map((n, i) => [n, m[i + 1]!]));
        }
        if (params === null) continue;
        pathMatched = true;
        if (!c.methods.includes(method)) continue;
        x.scope.route = `gateway:${c.route.name}`;
        if (c.route.tlsOnly && x.scope.listener === "insecure" && securePort) {
          // Only a GET or HEAD is sent on to the same URL: a 308 would have the browser send a form's
          // body (a password) again, to wherever the Host header said. Anything else gets a 303 to the
          // login page over TLS, a GET without a body.
          const same = method === "GET";
          const target = tlsUrl(x.req, securePort(), same ? x.scope.forwardPath + x.scope.query : `${prefix}/login`, publicUrl);
          if (target === null) refuseText(x.res, "ERR_BAD_HOST");
          else redirect(x.res, same ? 308 : 303, target);
          return "done";
        }
        return c.route.handler(x, params) ?? "done";
      }
      if (!answerUnknown) return;
      x.scope.route = pathMatched ? "gateway:method-not-allowed" : "gateway:not-found";
      if (pathMatched) refuseText(x.res, "ERR_METHOD_NOT_ALLOWED");
      else sendError(x.req, x.res, x.scope, notFound());
      return "done";
    },
  };
}
