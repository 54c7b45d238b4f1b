/**
 * The policy of the plaintext listener (SPEC §5, OMERO's `router.insecure`), in one place:
 * `redirect` sends the client to the same path on the TLS port, `reject` refuses, `allow` lets
 * plaintext through (the login issue adds its TLS-only routes and locked sessions).
 */
import type http from "node:http";
import net from "node:net";
import type { Config, RouterPolicy } from "../config/schema.js";
import type { Site } from "../config/site.js";
import { audit, type Logger } from "../log/logger.js";
import { redirect, refuseText } from "../pipeline/respond.js";
import type { Exchange, Stage } from "../pipeline/stage.js";
import { splitCookie } from "../sessions/cookie.js";

export interface RouterPolicyDeps {
  /** The policy in force now (it follows live changes of `site.securityChannel`). */
  policy(): RouterPolicy;
  /** The port the secure listener is bound to. */
  securePort(): number;
  sessionCookieName: string;
  /** `publicUrl` (SPEC §3): when set, the only place redirects send a client to. */
  publicUrl?: string;
  /** Revokes a credential that crossed the network in the clear; the login issue fills this in. */
  revokeExposed?(req: http.IncomingMessage, log: Logger): Promise<void> | void;
}

/** The host the client asked for, without its port; null when the Host header is not a host name. */
export function requestedHost(req: http.IncomingMessage): string | null {
  const host = req.headers.host ?? "";
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d+)?$/.exec(host);
  if (!m) return null;
  const name = m[1]!;
  if (name.startsWith("[") && net.isIPv6(name.slice(1, -1)) === false) return null;
  return name;
}

/**
 * Where on the TLS listener `pathAndQuery` (already normalised) is: under `publicUrl` when it is set,
 * whatever Host the client sent; otherwise on the requested host at the secure port.
 */
export function tlsUrl(req: http.IncomingMessage, securePort: number, pathAndQuery: string, publicUrl?: string): string | null {
  if (publicUrl !== undefined) return `${publicUrl}${pathAndQuery}`;
  const host = requestedHost(req);
  if (host === null) return null;
  return `https://${host}${securePort === 443 ? "" : `:${securePort}`}${pathAndQuery}`;
}

/**
 * Whether the request carries something secret: the session cookie (read as the credentials stage
 * reads it, so `name =v` counts too) or an Authorization header.
 */
export function carriesCredential(req: http.IncomingMessage, cookieName: string): "authorization" | "session-cookie" | null {
  if (req.headers.authorization) return "authorization";
  if (splitCookie(req.headers.cookie, cookieName).values.length > 0) return "session-cookie";
  return null;
}

/**
 * What crossed the plaintext port that should not have: in allow mode a secret in Authorization; in
 * redirect/reject mode also a session cookie. It is audited and revoked (SPEC §5); the returned
 * promise settles when the revocation is done.
 */
export function handleExposure(deps: RouterPolicyDeps, x: Exchange, policy: RouterPolicy): { exposed: boolean; done: Promise<void> | void } {
  const { req, scope } = x;
  const exposed = policy === "allow" ? (req.headers.authorization ? "authorization" : null) : carriesCredential(req, deps.sessionCookieName);
  if (!exposed) return { exposed: false, done: undefined };
  audit(scope.log, "credential.exposed", { carried: exposed, listener: "insecure", ip: scope.clientIp, requestId: scope.id });
  return { exposed: true, done: deps.revokeExposed?.(req, scope.log) };
}

/**
 * `site.securityChannel` is XNAT's name for the router policy (SPEC §4): `any` ⇔ allow; `https` is the
 * file's `router.insecure` (redirect when that says allow). It follows live site-config changes.
 */
export function currentPolicy(config: Config, site: Site): RouterPolicy {
  if (site.raw.securityChannel === "any") return "allow";
  return config.router.insecure === "allow" ? "redirect" : config.router.insecure;
}

/**
 * Whether a new session may only be used over TLS (OMERO's lock, SPEC §5): always unless plaintext is
 * allowed and neither `router.forceEncryption` nor the user (the login form's box) asks for it.
 */
export function lockedToTls(policy: RouterPolicy, forceEncryption: boolean, asked: boolean): boolean {
  return policy !== "allow" || forceEncryption || asked;
}

/**
 * The plaintext listener's policy, for requests and for WebSocket upgrades alike. An upgrade that is
 * refused gets a 403 (a WebSocket client would not follow a redirect); exposure is audited and
 * revoked the same way.
 */
export function routerPolicy(deps: RouterPolicyDeps, kind: "request" | "upgrade" = "request"): Stage {
  return {
    name: "routerPolicy",
    run(x: Exchange) {
      const { req, res, scope } = x;
      if (scope.listener === "secure") return;
      const policy = deps.policy();
      // In allow mode an unlocked session may travel in plaintext (SPEC §5), but a password or alias
      // secret in Authorization never may: it is audited and refused.
      const { exposed, done } = handleExposure(deps, x, policy);
      if (policy === "allow" && !exposed) return;
      if (kind === "upgrade") {
        const refuse = () => {
          scope.route = "router:websocket-refused";
          refuseText(res, "ERR_TLS_REQUIRED");
          return "done" as const;
        };
        return done instanceof Promise ? done.then(refuse) : refuse();
      }
      // The target we redirect to is the normalised one: a client's dot segments are not echoed back.
      const target = tlsUrl(req, deps.securePort(), scope.forwardPath + scope.query, deps.publicUrl);
      const finish = () => {
        if (target === null) {
          scope.route = "router:bad-host";
          refuseText(res, "ERR_BAD_HOST");
        } else if (policy === "redirect") {
          scope.route = "router:redirect";
          redirect(res, 308, target);
        } else if (policy === "reject") {
          scope.route = "router:reject";
          refuseText(res, "ERR_INSECURE_REJECTED", `This service is available over TLS only: ${target}`);
        } else {
          scope.route = "router:exposed";
          refuseText(res, "ERR_CREDENTIAL_EXPOSED", `Credentials must not be sent over plaintext; they are refused here. Use ${target}`);
        }
        return "done" as const;
      };
      return done instanceof Promise ? done.then(finish) : finish();
    },
  };
}
