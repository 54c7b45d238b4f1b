/** Strict-Transport-Security on every TLS response, proxied ones included (RFC 6797 §7.2: never over plain HTTP). */
import type { Stage } from "./stage.js";

export function securityHeaders(hsts: string): Stage {
  return {
    name: "securityHeaders",
    run({ scope }) {
      if (hsts && scope.listener === "secure") (scope.responseHeaders ??= {})["strict-transport-security"] = hsts;
    },
  };
}
