/**
 * The credentials stage (the identify phase): finds out who a request is from — the session cookie
 * (./session-cookies.ts) or `Authorization: Basic` (./basic-credentials.ts) — and records it as the
 * request's Identity (./identity.ts), without deciding whether that is enough (../policy/decide.ts
 * does). Both secrets are consumed here: the upstream never sees a password or the session cookie.
 */
import type { Clock } from "../clock.js";
import type { Stage } from "../pipeline/stage.js";
import { splitCookie } from "../sessions/cookie.js";
import type { SessionService } from "../sessions/session-service.js";
import type { Store } from "../store/store.js";
import { BasicCredentials, parseBasic } from "./basic-credentials.js";
import type { LoginService } from "./login.js";
import { SessionCookies } from "./session-cookies.js";

export interface CredentialsDeps {
  store: Store;
  sessions: SessionService;
  logins: LoginService;
  clock: Clock;
  cookieName: string;
  credentialCacheTtlMs: number;
}

export function credentialsStage(deps: CredentialsDeps): Stage {
  const basic = new BasicCredentials({ store: deps.store, logins: deps.logins, clock: deps.clock, cacheTtlMs: deps.credentialCacheTtlMs });
  const cookies = new SessionCookies(deps.sessions);
  return {
    name: "credentials",
    run(x) {
      const { req } = x;
      // Nothing to look at: stay synchronous (no promise per anonymous request).
      if (req.headers.authorization === undefined && req.headers.cookie === undefined) return;
      // The gateway's session secret is its own business: the upstream gets the other cookies only,
      // whichever credential the request is judged by.
      let values: readonly string[] = [];
      if (req.headers.cookie !== undefined) {
        const split = splitCookie(req.headers.cookie, deps.cookieName);
        req.headers.cookie = split.rest;
        values = split.values;
      }
      const authorization = req.headers.authorization;
      if (authorization !== undefined) {
        req.headers.authorization = undefined;
        const credential = parseBasic(authorization);
        if (credential) return basic.identify(x, credential.user, credential.password);
      }
      if (values.length > 0) return cookies.identify(x, values);
    },
  };
}
