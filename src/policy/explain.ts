/**
 * `explain` (SPEC §8.3): what the gateway would do with a described request and why, without
 * sending it. The path is read as a real request's is, the user is looked up as a login would find
 * them, and the answer comes from the same decision function (./decide.ts) and the same guest rule
 * (./access-stage.ts) as real requests, so it cannot drift from their behaviour. Served by
 * `GET /gateway/admin/explain` (../admin/explain-route.ts) and `portcullis explain` (../cli/explain.ts).
 */
import { ANONYMOUS, BASIC_FAILED, type Identity } from "../auth/identity.js";
import type { UserRecord } from "../auth/local/accounts.js";
import type { Site } from "../config/site.js";
import { GatewayError } from "../errors.js";
import { underPrefix } from "../admin/gateway-paths.js";
import { normaliseTarget } from "../pipeline/path.js";
import type { LockState } from "../regulation/lock-rule.js";
import type { Principal } from "../sessions/session-service.js";
import type { AccessRules, RuleInfo } from "./access-rules.js";
import { withGuest } from "./access-stage.js";
import { decide, type Outcome, type Step } from "./decide.js";
import type { GuestPrincipal } from "./guest.js";
import { methodReadings } from "./method-readings.js";

export interface ExplainQuery {
  method?: string;
  /** The request target as a client would send it (a query may follow). */
  path: string;
  user?: string;
  /**
   * How the user comes: with a `session` they already have (the default), or with `basic`
   * credentials, a new sign-in on every request, refused while the account is locked or disabled.
   */
  via?: "session" | "basic";
  /** The client address, after trustedProxies (default 127.0.0.1). */
  ip?: string;
  /** The User-Agent (default none: a script). */
  agent?: string;
}

export interface ExplainDeps {
  rules: AccessRules;
  site: () => Site;
  guest: Pick<GuestPrincipal, "get">;
  prefix: string;
  caseInsensitivePaths: boolean;
  /** Who `user` would be once signed in (auth/login.ts `lookup`), or null when no provider knows the name. */
  lookup(user: string): Promise<{ principal: Principal; account: UserRecord | null } | null>;
  lockState(user: string): Promise<LockState>;
}

export interface Explanation {
  /** SPEC §8.3's outcomes, and `gateway` for a path the gateway answers itself (never proxied). */
  decision: Outcome | "400" | "gateway";
  path: string;
  rule: RuleInfo | null;
  principal: Principal | null;
  steps: ExplainStep[];
  account: { locked: boolean; lockEndsAt: string | null; failures: number; enabled: boolean } | null;
}

/** A decision step, or one of the steps before the decision: reading the path, finding the user. */
export interface ExplainStep {
  stage: Step["stage"] | "path" | "gateway";
  outcome: string;
  why: string;
}

export async function explain(query: ExplainQuery, deps: ExplainDeps): Promise<Explanation> {
  const steps: ExplainStep[] = [];
  const method = (query.method ?? "GET").toUpperCase();
  let target: ReturnType<typeof normaliseTarget>;
  try {
    target = normaliseTarget(query.path);
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    steps.push({ stage: "path", outcome: "refused", why: err.publicMessage });
    return { decision: "400", path: query.path, rule: null, principal: null, steps, account: null };
  }
  if (underPrefix(target, deps.prefix, deps.caseInsensitivePaths)) {
    steps.push({ stage: "gateway", outcome: "not-proxied", why: `${deps.prefix} is the gateway's own: it answers there itself and never proxies` });
    return { decision: "gateway", path: target.path, rule: null, principal: null, steps, account: null };
  }

  const { identity, account } = await identityFor(query.user, query.via ?? "session", deps, steps);
  const site = deps.site();
  const request = {
    // A POST's body is not described: it is judged as every method a form body could turn it into.
    methods: methodReadings({ method, headers: {} }, target.query),
    path: target.path,
    otherReadings: target.otherReadings,
    clientIp: query.ip ?? "127.0.0.1",
    headers: query.agent === undefined ? {} : { "user-agent": query.agent },
  };
  const decisionSteps: Step[] = [];
  const decision = decide(request, await withGuest(identity, site, deps.guest), { rules: deps.rules, site }, decisionSteps);
  // A named user is judged by the principal alone; the step says how they were described as coming.
  const via = query.via ?? "session";
  const as = via === "basic" ? "with Basic credentials" : "with a session";
  for (const step of decisionSteps) steps.push(step.stage === "identity" && identity.kind === "basic" ? { ...step, outcome: via, why: `${identity.principal.user}, ${as}` } : step);
  return {
    decision: decision.outcome,
    path: target.path,
    rule: decision.rule === "default" ? null : deps.rules.info(decision.rule),
    principal: "principal" in decision.identity ? decision.identity.principal : null,
    steps,
    account,
  };
}

/**
 * The identity of a named user as if they had signed in (a disabled account cannot, and is judged as
 * nobody), with the account's state; nobody when no user is named or none is found.
 */
async function identityFor(user: string | undefined, via: "session" | "basic", deps: ExplainDeps, steps: ExplainStep[]): Promise<{ identity: Identity; account: Explanation["account"] }> {
  if (user === undefined || user === "") return { identity: ANONYMOUS, account: null };
  const found = await deps.lookup(user);
  if (found === null) {
    steps.push({ stage: "identity", outcome: "unknown-user", why: `no account or directory entry is named ${user}: judged as nobody signed in` });
    return { identity: ANONYMOUS, account: null };
  }
  const lock = await deps.lockState(found.principal.user);
  const enabled = found.account?.enabled ?? true;
  const account = { locked: lock.locked, lockEndsAt: lock.lockEndsAt === null ? null : new Date(lock.lockEndsAt).toISOString(), failures: lock.failures, enabled };
  if (via === "basic" && (!enabled || lock.locked)) {
    steps.push({ stage: "identity", outcome: "refused", why: `the account is ${enabled ? "locked" : "disabled"}: Basic credentials are a new sign-in on every request, and are refused` });
    return { identity: BASIC_FAILED, account };
  }
  if (!enabled) {
    steps.push({ stage: "identity", outcome: "disabled", why: `the account ${found.principal.user} is disabled: it cannot sign in, and its sessions have ended` });
    return { identity: ANONYMOUS, account };
  }
  if (lock.locked) steps.push({ stage: "identity", outcome: "locked", why: "the account is locked: no new sign-in until the lock ends, but a session it already has keeps working" });
  return { identity: { kind: "basic", principal: found.principal }, account };
}
