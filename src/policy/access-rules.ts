/**
 * Access rules (SPEC §8.1): an ordered list, first match wins, `access.defaultPolicy` otherwise.
 * A rule matches on paths (Ant patterns on the decoded, normalised path), methods, networks and
 * ipRegex; `groups`/`users` then say who may pass. A path that upstreams may read in more than one
 * way (Tomcat's `;parameters`, an encoded slash kept in a segment; see pipeline/path.ts), or a method
 * an upstream may turn into another (./method-readings.ts), is judged under each reading, and a
 * request passes only what every reading lets through. An ipRegex cut short by its time budget is
 * read both ways, the same.
 */
import net from "node:net";
import picomatch from "picomatch";
import { compilePattern, type MatchAnswer } from "../config/pattern.js";
import type { Config } from "../config/schema.js";
import { foldCase } from "../pipeline/case-fold.js";
import { trustedProxies } from "../pipeline/client-ip.js";
import type { Principal } from "../sessions/session-service.js";

export type Policy = "bypass" | "authenticated" | "admin" | "deny";

/** A rule's `users`/`groups`: the principal must be one of the users or hold one of the roles/groups. */
export interface Who {
  users: readonly string[];
  groups: readonly string[];
}

export interface Decision {
  policy: Policy;
  /** When set, the principal must pass each of these (more than one when readings of the path differ). */
  who?: readonly Who[];
  /** The rule that decided: the strictest reading's, the first reading's among equals. */
  rule: number | "default";
}

const STRICTNESS: Record<Policy, number> = { bypass: 0, authenticated: 1, admin: 2, deny: 3 };

/** A rule as `explain` names it (SPEC §8.3): where it comes from and what it says. */
export interface RuleInfo {
  /** Counts from 0 over the rules in the order they are tried. */
  index: number;
  source: "config";
  paths: readonly string[];
  policy: Policy;
}

export interface AccessRules {
  /** The rule of a decision's `rule` index. */
  info(index: number): RuleInfo;
  /**
   * @param path the decoded, normalised path (`NormalisedTarget.path`)
   * @param otherReadings the other readings of it an upstream may take (`NormalisedTarget.otherReadings`)
   * @param method the request's method, or every method the upstream may run it as (./method-readings.ts),
   *   the request's own first
   */
  decide(path: string, otherReadings: readonly string[] | undefined, method: string | readonly string[], ip: string): Decision;
}

export function compileRules(access: Config["access"]): AccessRules {
  const rules = access.rules.map((rule, index) => {
    // nocase for upstreams whose paths ignore case (IIS, a Windows or macOS file system): there
    // "/ADMIN/x" is "/admin/x", and must meet its rule (SPEC §3 access.caseInsensitivePaths).
    const paths = picomatch([...rule.paths], { dot: true, nocase: access.caseInsensitivePaths });
    const networks = rule.networks.length > 0 ? trustedProxies(rule.networks) : null;
    // Anywhere in the address, as before; on RE2 when it compiles there (../config/pattern.ts).
    const ipRegex = rule.ipRegex ? compilePattern(rule.ipRegex, { mode: "search", memo: true }) : null;
    const who: Who | undefined = rule.users.length > 0 || rule.groups.length > 0 ? { users: rule.users, groups: rule.groups } : undefined;
    return {
      index,
      policy: rule.policy as Policy,
      who,
      /** Whether the rule applies; `"over-budget"` when only its ipRegex could not tell in time. */
      matches(path: string, method: string, ip: string): MatchAnswer {
        if (!paths(access.caseInsensitivePaths ? foldCase(path) : path)) return false;
        // HEAD is a GET without a body: a rule about GET holds for HEAD too.
        if (rule.methods.length > 0 && !rule.methods.includes(method) && !(method === "HEAD" && rule.methods.includes("GET"))) return false;
        if (networks && !(net.isIP(ip) !== 0 && networks.contains(ip))) return false;
        return ipRegex ? ipRegex.match(ip) : true;
      },
    };
  });
  /**
   * What the rules say for one reading. An ipRegex that ran over its time budget could have gone
   * either way, so both are followed and the caller takes the stricter (fail closed under load).
   */
  const candidates = (path: string, method: string, ip: string, from = 0): Decision[] => {
    for (let i = from; i < rules.length; i++) {
      const r = rules[i]!;
      const applies = r.matches(path, method, ip);
      if (applies === false) continue;
      const decision: Decision = r.who ? { policy: r.policy, who: [r.who], rule: r.index } : { policy: r.policy, rule: r.index };
      return applies === true ? [decision] : [decision, ...candidates(path, method, ip, i + 1)];
    }
    return [{ policy: access.defaultPolicy as Policy, rule: "default" }];
  };
  const infos: readonly RuleInfo[] = access.rules.map((rule, index) => Object.freeze({ index, source: "config" as const, paths: rule.paths, policy: rule.policy as Policy }));
  return {
    info: (index) => infos[index]!,
    decide(path, otherReadings, method, ip) {
      const methods = typeof method === "string" ? [method] : method;
      const decisions = candidates(path, methods[0]!, ip);
      if (otherReadings === undefined && methods.length === 1 && decisions.length === 1) return decisions[0]!;
      const paths = [path, ...(otherReadings ?? [])];
      for (const p of paths) for (const m of methods) if (p !== path || m !== methods[0]) decisions.push(...candidates(p, m, ip));
      let strictest = decisions[0]!;
      for (const d of decisions) if (STRICTNESS[d.policy] > STRICTNESS[strictest.policy]) strictest = d;
      if (strictest.policy === "bypass" || strictest.policy === "deny") return strictest;
      // Each reading's users/groups condition must hold too: "/legacy;x/data" is "/legacy/data" to
      // Tomcat, and its groups rule applies even where the literal reading met a rule without one.
      // A bypass reading asks nothing of the principal, so its condition (ignored for bypass) is not carried.
      const who = new Set<Who>();
      for (const d of decisions) if (d.policy !== "bypass") for (const w of d.who ?? []) who.add(w);
      return who.size > 0 ? { ...strictest, who: [...who] } : strictest;
    },
  };
}

/** Whether a principal passes every `users`/`groups` condition of a decision. */
export function allowedBy(who: Decision["who"], principal: Principal): boolean {
  if (!who) return true;
  return who.every((w) => w.users.includes(principal.user) || principal.roles.some((r) => w.groups.includes(r)));
}
