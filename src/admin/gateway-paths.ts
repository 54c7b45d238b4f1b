/**
 * The gateway's own paths (`paths.prefix`) are never proxied: whatever the gateway's routes did not
 * answer there gets 404, on every reading of the path an upstream might take.
 */
import { notFound } from "../errors.js";
import { foldCase } from "../pipeline/case-fold.js";
import { sendError } from "../pipeline/respond.js";
import type { RequestScope } from "../pipeline/scope.js";
import type { Stage } from "../pipeline/stage.js";

/** Whether the request's path, as the rules read it or as any upstream may (pipeline/path.ts), is under `prefix`. */
export function underPrefix(scope: Pick<RequestScope, "path" | "otherReadings">, prefix: string, caseInsensitive = false): boolean {
  const own = caseInsensitive ? prefix.toLowerCase() : prefix;
  if (isUnder(scope.path, own, caseInsensitive)) return true;
  return scope.otherReadings !== undefined && scope.otherReadings.some((p) => isUnder(p, own, caseInsensitive));
}

function isUnder(path: string, prefix: string, caseInsensitive: boolean): boolean {
  const p = caseInsensitive ? foldCase(path) : path;
  return p.startsWith(prefix) && (p.length === prefix.length || p.charCodeAt(prefix.length) === 47 /* "/" */);
}

/**
 * Answers 404 for a request under `prefix` that reached it: a WebSocket upgrade (the gateway serves
 * none, and passing one on would present the user to the upstream on the gateway's API paths), or a
 * path that only an upstream's reading puts under the prefix (`/gateway;x/xapi`, `/GATEWAY/xapi`
 * where paths are case-insensitive).
 */
export function gatewayPathsNotProxied(prefix: string, caseInsensitive = false): Stage {
  return {
    name: "gatewayPathsNotProxied",
    run({ req, res, scope }) {
      if (!underPrefix(scope, prefix, caseInsensitive)) return;
      scope.route = "gateway:not-found";
      sendError(req, res, scope, notFound());
      return "done";
    },
  };
}
