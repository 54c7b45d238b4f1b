/**
 * The request path, in named phases each domain fills (SPEC §5–§8): preAuth (headers, health, the
 * router policy, client claims stripped) → identify (who it is from) → gateway (CSRF and the
 * gateway's own routes, which are never proxied) → authorize (the access decision) → forward
 * (identity and forwarding headers, the upstream). A WebSocket upgrade runs the same phases with the
 * stages that suit a handshake; the listener passes it on after the last one.
 */
import { adminRoutes } from "./admin/admin-routes.js";
import { explainRoute } from "./admin/explain-route.js";
import { gatewayPathsNotProxied } from "./admin/gateway-paths.js";
import { gatewayRoutes } from "./admin/gateway-routes.js";
import { healthRoute } from "./admin/health.js";
import { siteConfigRoutes } from "./admin/site-config-routes.js";
import { credentialsStage } from "./auth/credentials.js";
import type { Clock } from "./clock.js";
import type { Config } from "./config/schema.js";
import { currentPolicy, routerPolicy, type RouterPolicyDeps } from "./listeners/router-policy.js";
import type { ListenerKind } from "./pipeline/scope.js";
import { securityHeaders } from "./pipeline/security-headers.js";
import type { Stage } from "./pipeline/stage.js";
import { accessStage } from "./policy/access-stage.js";
import { csrfStage, websocketOriginStage } from "./policy/csrf.js";
import { forwardedHeaders, stripClientHeaders } from "./proxy/forwarded.js";
import { identityHeaders } from "./proxy/identity.js";
import type { Upstream } from "./proxy/upstream.js";
import type { Services } from "./services.js";
import { sessionActivity } from "./sessions/activity.js";
import { authRoutes } from "./web/auth-routes.js";
import { passwordResetRoutes } from "./web/password-reset-routes.js";

/** The phases in the order a request meets them. */
export const PHASES = ["preAuth", "identify", "gateway", "authorize", "forward"] as const;
export type Phase = (typeof PHASES)[number];
export type Phases = Record<Phase, readonly Stage[]>;

export interface RequestPathDeps {
  services: Services;
  upstream: Upstream;
  routerDeps: RouterPolicyDeps;
  clock: Clock;
  listenerPort: (kind: ListenerKind) => number;
}

/** The stages of every phase, one after another. */
export function stagesOf(phases: Phases): Stage[] {
  return PHASES.flatMap((phase) => phases[phase]);
}

/** The phases of a request and of an upgrade; both share one credentials stage (and its Basic cache). */
export function buildRequestPath(config: Config, d: RequestPathDeps): { request: Phases; upgrade: Phases } {
  const s = d.services;
  const prefix = config.paths.prefix;
  const identityNames = [...Object.values(config.identity.headers), config.identity.assertion.header];
  const credentials = credentialsStage({
    store: s.store,
    sessions: s.sessions,
    logins: s.logins,
    clock: d.clock,
    cookieName: config.session.cookieName,
    credentialCacheTtlMs: config.auth.credentialCacheTtl,
  });
  const notProxied = gatewayPathsNotProxied(prefix, config.access.caseInsensitivePaths);
  const access = accessStage({ rules: s.rules, site: s.site, prefix, guest: s.guest, slide: sessionActivity(s.sessions) });
  const forward = [identityHeaders(config.identity.headers), forwardedHeaders(d.listenerPort)];
  return {
    request: {
      preAuth: [securityHeaders(config.tls.hsts), gatewayRoutes("healthRoutes", prefix, [healthRoute], false), routerPolicy(d.routerDeps), stripClientHeaders(identityNames)],
      identify: [credentials],
      gateway: [csrfStage({ site: s.site }), ownRoutes(config, d), notProxied],
      authorize: [access],
      forward: [...forward, d.upstream.stage],
    },
    upgrade: {
      // An upgrade to the gateway's own paths is answered 404 whoever sends it, before credentials.
      preAuth: [routerPolicy(d.routerDeps, "upgrade"), notProxied, stripClientHeaders(identityNames, true)],
      identify: [credentials],
      gateway: [websocketOriginStage()],
      authorize: [access],
      forward,
    },
  };
}

/** The gateway's own routes under `paths.prefix`: sign-in, password reset, admin, site config, explain. */
function ownRoutes(config: Config, d: RequestPathDeps): Stage {
  const s = d.services;
  const prefix = config.paths.prefix;
  return gatewayRoutes(
    "gatewayRoutes",
    prefix,
    [
      ...authRoutes({
        prefix,
        cookieName: config.session.cookieName,
        clock: d.clock,
        site: s.site,
        policy: () => currentPolicy(config, s.site()),
        forceEncryption: config.router.forceEncryption,
        sessions: s.sessions,
        logins: s.logins,
        accounts: s.accounts,
        store: s.store,
      }),
      ...passwordResetRoutes({ prefix, resets: s.resets }),
      ...adminRoutes({ sessions: s.sessions, accounts: s.accounts, regulation: s.regulation, site: s.site }),
      ...siteConfigRoutes({ live: s.liveSite }),
      explainRoute({
        rules: s.rules,
        site: s.site,
        guest: s.guest,
        prefix,
        caseInsensitivePaths: config.access.caseInsensitivePaths,
        lookup: (user) => s.logins.lookup(user),
        lockState: (user) => s.regulation.state(user),
      }),
    ],
    true,
    () => d.listenerPort("secure"),
    config.publicUrl,
  );
}
