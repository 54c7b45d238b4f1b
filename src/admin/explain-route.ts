/**
 * `GET /gateway/admin/explain?method=GET&path=/data/x&user=alice&ip=10.1.2.3&agent=curl/8.5`
 * (SPEC §8.3): admins only, over TLS, answered by ../policy/explain.ts.
 */
import { GatewayError } from "../errors.js";
import { explain, type ExplainDeps } from "../policy/explain.js";
import { sendJson } from "../pipeline/respond.js";
import { queryOf } from "../web/body.js";
import { requireAdmin } from "./admin-routes.js";
import type { GatewayRoute } from "./gateway-routes.js";

export function explainRoute(deps: ExplainDeps): GatewayRoute {
  return {
    method: "GET",
    path: "/admin/explain",
    name: "admin-explain",
    tlsOnly: true,
    async handler(x): Promise<"done"> {
      requireAdmin(x);
      const q = queryOf(x.scope);
      const path = q.get("path");
      if (path === null || path === "") throw new GatewayError("ERR_BAD_REQUEST", { message: "Name the request to explain: ?path=/some/path (and method, user, ip, agent as needed)." });
      const optional = (name: string) => q.get(name) ?? undefined;
      const via = optional("via");
      if (via !== undefined && via !== "session" && via !== "basic") throw new GatewayError("ERR_BAD_REQUEST", { message: "via is session (the default) or basic." });
      sendJson(x.res, 200, await explain({ path, method: optional("method"), user: optional("user"), via, ip: optional("ip"), agent: optional("agent") }, deps));
      return "done";
    },
  };
}
