/**
 * Identity headers for the upstream (SPEC §3 `identity.headers`), written after client copies were removed.
 *
 * Header values must be visible ASCII: anything else (an accented e-mail address, a group named in
 * another script) is percent-encoded as UTF-8, which upstreams decode with one standard call
 * (`decodeURIComponent`, Python's `urllib.parse.unquote`). A value holding `%` is encoded too
 * (issue #15), so that decoding always gives back exactly the value: otherwise a directory entry
 * `uid=%61dmin` reached the upstream as `X-Remote-User: %61dmin`, which decodes to the local `admin`,
 * and `jos%c3%a9` met `josé` the same way. Such names are encoded rather than refused at login, since
 * they are the directory's to allow; what is sent is one-to-one: a value without `%` is the value
 * itself, and a value with `%` is always an encoding, never a literal. (Case is the other way two
 * names meet upstream: a directory login whose folded name is a local account's is refused, see
 * `Accounts.holderOf`.)
 */
import { principalOf } from "../auth/identity.js";
import type { Config } from "../config/schema.js";
import type { Stage } from "../pipeline/stage.js";
import type { Principal } from "../sessions/session-service.js";

/**
 * A header value that decodes back to `value`: as it is when visible ASCII without `%`, `+` or `,`,
 * else percent-encoded. `+` is a space to form decoders (Java's `URLDecoder`, which XNAT plugins
 * reach for), and `,` separates the groups header: a directory group named `staff,admin` must not
 * arrive as two groups, one of them `admin`.
 */
export function headerSafe(value: string): string {
  return /^[\x20-\x24\x26-\x2a\x2d-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
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
      const p = principalOf(scope.identity);
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
