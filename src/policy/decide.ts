/**
 * The access decision (SPEC §8.1, §8.3): from a described request and the identity established for
 * it, what the gateway does — proxy it, send the browser to the login page, or refuse it — and why.
 * Pure: no I/O, no clock, no request object. Real requests (./access-stage.ts) and `explain`
 * (../admin/explain.ts) both ask it, so what explain says cannot drift from what requests meet.
 */
import { principalOf, type Identity } from "../auth/identity.js";
import type { Site } from "../config/site.js";
import { browserMade, isNavigation, wantsChallenge, type ClientHeaders } from "../pipeline/client-kind.js";
import { allowedBy, type AccessRules, type Decision as RuleDecision, type Policy } from "./access-rules.js";

/** A request as the decision sees it. */
export interface DescribedRequest {
  /** Its method, or every method the upstream may run it as, its own first (./method-readings.ts). */
  methods: string | readonly string[];
  /** The decoded, normalised path, and the other readings an upstream may take (pipeline/path.ts). */
  path: string;
  otherReadings?: readonly string[];
  clientIp: string;
  /** What kind of client it is (pipeline/client-kind.ts). */
  headers: ClientHeaders;
}

export interface DecisionSettings {
  rules: AccessRules;
  site: Pick<Site, "interactiveAgents" | "isDataPath">;
}

/** SPEC §8.3's outcomes that a decision can reach (a 400 is the path's, before any decision). */
export type Outcome = "proxy" | "redirect-to-login" | "401" | "403" | "503";

export interface Step {
  stage: "rules" | "identity" | "role" | "client";
  outcome: string;
  why: string;
}

export interface Decision {
  outcome: Outcome;
  policy: Policy;
  /** The rule that decided (an index into the rules), or the default policy. */
  rule: number | "default";
  /**
   * The identity the request goes on with: the guest only where the guest is let in (a path that
   * needs a signed-in user), else the one it came with.
   */
  identity: Identity;
  /** A 401 carries `WWW-Authenticate: Basic` (never for a browser's own requests, SPEC §6.5). */
  challenge: boolean;
  /** A session that had timed out, for the login page to mention. */
  expiredAt?: number;
  /** The request counts as session activity: only requests the rules do not waive (bypass) or refuse outright. */
  activity: boolean;
}

/**
 * Decides. `steps`, when given, receives the reasons in order (explain); requests pass none and
 * build no text.
 */
export function decide(request: DescribedRequest, identity: Identity, settings: DecisionSettings, steps?: Step[]): Decision {
  const ruled = settings.rules.decide(request.path, request.otherReadings, request.methods, request.clientIp);
  steps?.push(ruleStep(ruled, settings.rules));
  if (ruled.policy === "deny") return decision(ruled, "403", identity, false);
  // A bypass path asks nothing of the client; a signed-in user is still named to the upstream.
  if (ruled.policy === "bypass") return decision(ruled, "proxy", identity.kind === "guest" ? standDown(identity) : identity, false);

  // The guest stands in for nobody on `authenticated` paths only (its users/groups still apply); an
  // admin path needs someone to sign in.
  const who = identity.kind === "guest" && ruled.policy !== "authenticated" ? standDown(identity) : identity;
  const principal = principalOf(who);
  steps?.push({ stage: "identity", outcome: who.kind, why: identityWhy(who) });
  if (principal === undefined) return unauthenticated(request, ruled, who, settings, steps);
  if (ruled.policy === "admin" && !principal.roles.includes("admin")) {
    steps?.push({ stage: "role", outcome: "refused", why: "the rule is for administrators, and this principal has no admin role" });
    return decision(ruled, "403", who, true);
  }
  if (!allowedBy(ruled.who, principal)) {
    steps?.push({ stage: "role", outcome: "refused", why: `the rule admits only ${describeWho(ruled)}` });
    return decision(ruled, "403", who, true);
  }
  return decision(ruled, "proxy", who, true);
}

/** One shape for every decision (the hot path makes one per request). */
function decision(ruled: RuleDecision, outcome: Outcome, identity: Identity, activity: boolean, challenge = false, expiredAt?: number): Decision {
  const made: Decision = { outcome, policy: ruled.policy, rule: ruled.rule, identity, challenge, activity };
  if (expiredAt !== undefined) made.expiredAt = expiredAt;
  return made;
}

/** Nobody the rule admits: 503 when the store could not tell, 401 for scripts, the login page for people. */
function unauthenticated(request: DescribedRequest, ruled: RuleDecision, identity: Identity, settings: DecisionSettings, steps: Step[] | undefined): Decision {
  if (identity.kind === "store-unavailable") return decision(ruled, "503", identity, true);
  const challenge = !browserMade(request.headers);
  if (identity.kind === "refused") return decision(ruled, "401", identity, true, challenge);
  if (wantsChallenge(request.headers, request.path, settings.site)) {
    steps?.push({ stage: "client", outcome: "script", why: "a data path, and not a browser navigating with an interactiveAgentIds User-Agent" });
    return decision(ruled, "401", identity, true, challenge);
  }
  const expiredAt = identity.kind === "anonymous" ? identity.expiredAt : undefined;
  if (expiredAt !== undefined && !isNavigation(request.headers)) {
    steps?.push({ stage: "client", outcome: "not-navigating", why: "the session timed out, and the client is not a page being loaded" });
    return decision(ruled, "401", identity, true, challenge);
  }
  steps?.push({ stage: "client", outcome: "browser", why: "a page a person can sign in from" });
  return decision(ruled, "redirect-to-login", identity, true, false, expiredAt);
}

/** The guest where it is not let in: nobody, with the timeout it came with. */
function standDown(guest: Identity & { kind: "guest" }): Identity {
  return guest.expiredAt === undefined ? { kind: "anonymous" } : { kind: "anonymous", expiredAt: guest.expiredAt };
}

function ruleStep(ruled: RuleDecision, rules: AccessRules): Step {
  if (ruled.rule === "default") return { stage: "rules", outcome: ruled.policy, why: `no rule matched; access.defaultPolicy is ${ruled.policy}` };
  const info = rules.info(ruled.rule);
  return { stage: "rules", outcome: ruled.policy, why: `rule ${info.index} (${info.source}: ${info.paths.join(", ")}) matched` };
}

function identityWhy(identity: Identity): string {
  switch (identity.kind) {
    case "session":
      return `a live session of ${identity.principal.user}`;
    case "basic":
      return `Basic credentials of ${identity.principal.user}`;
    case "guest":
      return "nobody signed in, and requireLogin is false: the guest";
    case "refused":
      return "the credentials sent were refused";
    case "store-unavailable":
      return "the store could not be asked about the credential sent";
    case "anonymous":
      return identity.expiredAt === undefined ? "nobody signed in" : "the session sent had timed out";
  }
}

function describeWho(ruled: RuleDecision): string {
  const all = ruled.who ?? [];
  return all.map((w) => [...w.users.map((u) => `user ${u}`), ...w.groups.map((g) => `group ${g}`)].join(" or ")).join(", and ");
}
