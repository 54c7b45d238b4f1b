/** `GET /gateway/healthz`: the process is up and serving; answered on both listeners without credentials. */
import { sendJson } from "../pipeline/respond.js";
import type { GatewayRoute } from "./gateway-routes.js";

export const healthRoute: GatewayRoute = {
  method: "GET",
  path: "/healthz",
  name: "healthz",
  handler({ res }) {
    sendJson(res, 200, { status: "ok" });
    return "done";
  },
};
