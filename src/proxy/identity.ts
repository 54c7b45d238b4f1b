/** Identity headers for the upstream (SPEC §3 `identity.headers`), written after client copies were removed. */
import type { Config } from "../config/schema.js";
import type { Stage } from "../pipeline/stage.js";

export function identityHeaders(names: Config["identity"]["headers"]): Stage {
  const user = names.user.toLowerCase();
  const groups = names.groups.toLowerCase();
  const email = names.email.toLowerCase();
  const provider = names.provider.toLowerCase();
  return {
    name: "identityHeaders",
    run({ req, scope }) {
      const p = scope.principal;
      if (!p) return;
      req.headers[user] = p.user;
      req.headers[groups] = p.roles.join(",");
      if (p.email) req.headers[email] = p.email;
      req.headers[provider] = p.provider;
    },
  };
}
