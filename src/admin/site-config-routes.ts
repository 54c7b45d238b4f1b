/**
 * The site-config REST API (SPEC §4), at XNAT's paths under the gateway prefix:
 * `GET /xapi/siteConfig/values/{name}` (or `{a,b,c}` for a map) — the public properties for anyone,
 * the others for admins; `GET /xapi/siteConfig` — every value, admins; `POST /xapi/siteConfig` — a JSON
 * map of changes, admins with the CSRF token, validated as a whole before anything is stored. TLS only.
 * Beyond XNAT: `DELETE /xapi/siteConfig/values/{name}` (or `{a,b}`) removes run-time overrides so the
 * config file's value holds again, and `GET /xapi/siteConfig/overrides` lists what was changed at run
 * time, by whom and when, beside the value the config would give (README "Site configuration").
 */
import { isSiteKey, type LiveSite, type SiteChange } from "./live-site.js";
import { suggest } from "../config/keys.js";
import { publicSiteKeys, type SiteConfig, type SiteKey, siteKeys } from "../config/schema.js";
import { GatewayError, SiteConfigError } from "../errors.js";
import { audit } from "../log/logger.js";
import { sendJson } from "../pipeline/respond.js";
import type { Exchange } from "../pipeline/stage.js";
import { signedIn } from "../auth/identity.js";
import { isJsonRequest, readJson } from "../web/body.js";
import { requireAdmin, requireToken } from "./admin-routes.js";
import type { GatewayRoute } from "./gateway-routes.js";

export interface SiteConfigRouteDeps {
  live: LiveSite;
}

const PUBLIC = new Set<SiteKey>(publicSiteKeys);

/**
 * Far longer than any property name. A longer one is answered 404 before any "did you mean": the
 * edit distance costs its length times each name's, and these routes answer without a sign-in.
 */
export const MAX_PROPERTY_NAME = 100;

/** A value as JSON: an unset optional property (passwordExpirationDate) is null. */
const shown = (values: SiteConfig, name: SiteKey): unknown => values[name] ?? null;

const valuesOf = (values: SiteConfig, names: readonly SiteKey[]) => Object.fromEntries(names.map((n) => [n, shown(values, n)]));


/**
 * `{a,b,c}` → a, b, c (a map is answered); anything else is one name (its value is answered).
 * An unknown name, or none, is a 404.
 */
function requestedNames(param: string): { names: SiteKey[]; map: boolean } {
  // A single name, or the longest list of distinct names there are, fits in this many characters.
  if (param.length > (MAX_PROPERTY_NAME + 1) * siteKeys.length + 2) throw unknownProperty(param);
  const m = /^\{(.*)\}$/s.exec(param);
  const names = m ? [...new Set(m[1]!.split(",").map((s) => s.trim()).filter(Boolean))] : [param];
  const unknown = names.find((n) => !isSiteKey(n));
  if (unknown !== undefined) throw unknownProperty(unknown);
  if (names.length === 0) throw new GatewayError("ERR_NOT_FOUND", { message: "Name at least one site-config property." });
  return { names: names as SiteKey[], map: m !== null };
}

/** The answer to a refused change: 400 with every problem. */
function sendProblems(x: Exchange, err: SiteConfigError): "done" {
  sendJson(x.res, 400, { error: err.code, message: err.publicMessage, problems: err.issues.map((i) => ({ key: i.path, message: i.message })), requestId: x.scope.id });
  return "done";
}

/**
 * Runs a change by the signed-in admin and audits it when something changed; a SiteConfigError is
 * answered 400 with its problems ("done"), anything else propagates.
 */
async function changing(
  x: Exchange,
  change: (user: string) => Promise<Record<string, SiteChange>>,
  auditExtra: Record<string, unknown> = {},
): Promise<Record<string, SiteChange> | "done"> {
  const user = signedIn(x.scope.identity)!.user;
  let changes: Record<string, SiteChange>;
  try {
    changes = await change(user);
  } catch (err) {
    if (err instanceof SiteConfigError) return sendProblems(x, err);
    throw err;
  }
  if (Object.keys(changes).length > 0) audit(x.scope.log, "site-config.changed", { user, changes, ...auditExtra, ip: x.scope.clientIp, requestId: x.scope.id });
  return changes;
}

function unknownProperty(name: string): GatewayError {
  const hint = name.length <= MAX_PROPERTY_NAME ? suggest(name, siteKeys) : null;
  const shown = name.length <= MAX_PROPERTY_NAME ? JSON.stringify(name) : `${JSON.stringify(name.slice(0, MAX_PROPERTY_NAME))}… (${name.length} characters)`;
  return new GatewayError("ERR_NOT_FOUND", { message: `There is no site-config property ${shown}${hint ? `; did you mean "${hint}"?` : "."}` });
}

export function siteConfigRoutes(d: SiteConfigRouteDeps): GatewayRoute[] {
  return [
    {
      method: "GET",
      path: "/xapi/siteConfig/values/{name}",
      name: "site-config-values",
      tlsOnly: true,
      handler(x, params): "done" {
        const { names: wanted, map } = requestedNames(params.name!);
        // The public properties are what a login page needs, so they are readable without signing in.
        if (!wanted.every((n) => PUBLIC.has(n))) requireAdmin(x);
        const values = d.live.values();
        sendJson(x.res, 200, map ? valuesOf(values, wanted) : shown(values, wanted[0]!));
        return "done";
      },
    },
    {
      method: ["GET", "POST"],
      path: "/xapi/siteConfig",
      name: "site-config",
      tlsOnly: true,
      async handler(x): Promise<"done"> {
        requireAdmin(x);
        if (x.req.method !== "POST") {
          sendJson(x.res, 200, valuesOf(d.live.values(), siteKeys));
          return "done";
        }
        requireToken(x, d.live.current());
        if (!isJsonRequest(x.req)) throw new GatewayError("ERR_UNSUPPORTED_MEDIA_TYPE", { message: "Send the changes as a JSON map (Content-Type: application/json)." });
        const body = await readJson(x.req);
        if (body === null || typeof body !== "object" || Array.isArray(body)) {
          throw new GatewayError("ERR_BAD_REQUEST", { message: 'Send a JSON map of property names to values, such as {"maxFailedLogins": 3}.' });
        }
        const changes = await changing(x, (user) => d.live.apply(body as Record<string, unknown>, user));
        if (changes === "done") return "done";
        sendJson(x.res, 200, Object.fromEntries(Object.entries(changes).map(([name, c]) => [name, c.to])));
        return "done";
      },
    },
    {
      method: "DELETE",
      path: "/xapi/siteConfig/values/{name}",
      name: "site-config-reset",
      tlsOnly: true,
      async handler(x, params): Promise<"done"> {
        requireAdmin(x);
        requireToken(x, d.live.current());
        const { names } = requestedNames(params.name!);
        if ((await changing(x, (user) => d.live.reset(names, user), { reset: true })) === "done") return "done";
        // The values now in force, whether or not an override was there to remove.
        sendJson(x.res, 200, valuesOf(d.live.values(), names));
        return "done";
      },
    },
    {
      method: "GET",
      path: "/xapi/siteConfig/overrides",
      name: "site-config-overrides",
      tlsOnly: true,
      async handler(x): Promise<"done"> {
        requireAdmin(x);
        const overrides = await d.live.overrides();
        sendJson(
          x.res,
          200,
          overrides.map((o) => ({ name: o.name, value: o.value, configValue: shown(d.live.base, o.name as SiteKey), changedBy: o.changedBy, changedAt: new Date(o.changedAt).toISOString() })),
        );
        return "done";
      },
    },
  ];
}
