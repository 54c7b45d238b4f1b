/** Identity headers for the upstream (SPEC §3 `identity.headers`), written after client copies were removed. */
import type { Config } from "../config/schema.js";
import type { Stage } from "../pipeline/stage.js";
import type { Principal } from "../sessions/session-service.js";

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
  // A principal is shared by the requests of one session or cached Basic credential (and never
  // changed once made), so its header values are computed once.
  const values = new WeakMap<Principal, [string, string, string | undefined, string | undefined, string]>();
  return {
    name: "identityHeaders",
    run({ req, scope }) {
      const p = scope.principal;
      if (!p) return;
      let v = values.get(p);
      if (v === undefined) {
        v = [headerSafe(p.user), p.roles.map(headerSafe).join(","), p.email ? headerSafe(p.email) : undefined, p.name ? headerSafe(p.name) : undefined, headerSafe(p.provider)];
        values.set(p, v);
      }
      req.headers[user] = v[0];
      req.headers[groups] = v[1];
      if (v[2] !== undefined) req.headers[email] = v[2];
      if (v[3] !== undefined) req.headers[name] = v[3];
      req.headers[provider] = v[4];
    },
  };
}
