/**
 * Access rules (SPEC §8.1): an ordered list, first match wins, `access.defaultPolicy` otherwise.
 * A rule matches on paths (Ant patterns on the decoded, normalised path), methods, networks and
 * ipRegex; `groups`/`users` then say who may pass. A path with Tomcat parameters is judged under
 * both of its readings and the stricter policy applies.
 */
import net from "node:net";
import picomatch from "picomatch";
import type { Config } from "../config/schema.js";
import { trustedProxies } from "../pipeline/client-ip.js";
import type { Principal } from "../sessions/session-service.js";

export type Policy = "bypass" | "authenticated" | "admin" | "deny";

export interface Decision {
  policy: Policy;
  /** When set, the principal must be one of these users or hold one of these roles/groups. */
  who?: { users: readonly string[]; groups: readonly string[] };
  rule: number | "default";
}

const STRICTNESS: Record<Policy, number> = { bypass: 0, authenticated: 1, admin: 2, deny: 3 };

export interface AccessRules {
  decide(path: string, paramFreePath: string | undefined, method: string, ip: string): Decision;
}

export function compileRules(access: Config["access"]): AccessRules {
  const rules = access.rules.map((rule, index) => {
    const paths = picomatch([...rule.paths], { dot: true });
    const networks = rule.networks.length > 0 ? trustedProxies(rule.networks) : null;
    const ipRegex = rule.ipRegex ? new RegExp(rule.ipRegex) : null;
    const who = rule.users.length > 0 || rule.groups.length > 0 ? { users: rule.users, groups: rule.groups } : undefined;
    return {
      index,
      policy: rule.policy as Policy,
      who,
      matches(path: string, method: string, ip: string): boolean {
        if (!paths(path)) return false;
        // HEAD is a GET without a body: a rule about GET holds for HEAD too.
        if (rule.methods.length > 0 && !rule.methods.includes(method) && !(method === "HEAD" && rule.methods.includes("GET"))) return false;
        if (networks && !(net.isIP(ip) !== 0 && networks.contains(ip))) return false;
        if (ipRegex && !ipRegex.test(ip)) return false;
        return true;
      },
    };
  });
  const one = (path: string, method: string, ip: string): Decision => {
    for (const r of rules) if (r.matches(path, method, ip)) return { policy: r.policy, who: r.who, rule: r.index };
    return { policy: access.defaultPolicy as Policy, rule: "default" };
  };
  return {
    decide(path, paramFreePath, method, ip) {
      const first = one(path, method, ip);
      if (paramFreePath === undefined) return first;
      const second = one(paramFreePath, method, ip);
      return STRICTNESS[second.policy] > STRICTNESS[first.policy] ? second : first;
    },
  };
}

/** Whether a principal passes a rule's `users`/`groups` condition. */
export function allowedBy(who: Decision["who"], principal: Principal): boolean {
  if (!who) return true;
  return who.users.includes(principal.user) || principal.roles.some((r) => who.groups.includes(r));
}
