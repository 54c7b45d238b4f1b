/** Identity headers for the upstream (SPEC §3 `identity.headers`), written after client copies were removed. */
import type { Config } from "../config/schema.js";
import type { Stage } from "../pipeline/stage.js";

/**
 * Header values must be visible ASCII: anything else (an accented e-mail address, a group named in
 * another script) is percent-encoded as UTF-8, which upstreams decode with one standard call.
 */
export function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

export function identityHeaders(names: Config["identity"]["headers"]): Stage {
  const user = names.user.toLowerCase();
  const groups = names.groups.toLowerCase();
  const email = names.email.toLowerCase();
  const provider = names.provider.toLowerCase();
  const name = names.name.toLowerCase();
  return {
    name: "identityHeaders",
    run({ req, scope }) {
      const p = scope.principal;
      if (!p) return;
      req.headers[user] = headerSafe(p.user);
      req.headers[groups] = p.roles.map(headerSafe).join(",");
      if (p.email) req.headers[email] = headerSafe(p.email);
      if (p.name) req.headers[name] = headerSafe(p.name);
      req.headers[provider] = headerSafe(p.provider);
    },
  };
}
