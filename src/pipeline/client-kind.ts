/**
 * What kind of client sent a request, from its headers alone: a JSON or XHR caller, a browser
 * navigating, a browser's own fetch, a person's browser (SPEC §7: XNAT's `interactiveAgentIds` and
 * `dataPaths`). Every answer that depends on the client asks here, so they cannot disagree.
 */
import type { Site } from "../config/site.js";

/** The headers these answers read; `explain` builds them from its parameters. */
export interface ClientHeaders {
  accept?: string;
  "user-agent"?: string;
  "x-requested-with"?: string | string[];
  "sec-fetch-mode"?: string | string[];
}

/**
 * Browsers' User-Agents are a few hundred characters; a longer one is not matched at all (it is a
 * script's), so that no admin pattern is run over a header the size of the header limit.
 */
export const MAX_AGENT_LENGTH = 1024;

/** Asks for JSON rather than a page (an `Accept` naming JSON and not HTML), or is an XHR call. */
export function wantsJson(headers: ClientHeaders): boolean {
  const accept = headers.accept ?? "";
  return (accept.includes("application/json") && !accept.includes("text/html")) || headers["x-requested-with"] === "XMLHttpRequest";
}

/**
 * Made by a browser on a page's behalf (a fetch, an image, a frame): browsers mark every request with
 * `Sec-Fetch-Mode`; scripts send none.
 */
export function browserMade(headers: ClientHeaders): boolean {
  return headers["sec-fetch-mode"] !== undefined;
}

/** A page being asked for (not an API or XHR call, not a sub-resource): such clients can be sent to the login page. */
export function isNavigation(headers: ClientHeaders): boolean {
  if (wantsJson(headers)) return false;
  const mode = headers["sec-fetch-mode"];
  return mode === undefined || mode === "navigate";
}

/** A person at a browser: a User-Agent of `interactiveAgentIds`, navigating. */
export function isInteractive(headers: ClientHeaders, site: Pick<Site, "interactiveAgents">): boolean {
  const agent = headers["user-agent"] ?? "";
  if (agent === "" || agent.length > MAX_AGENT_LENGTH || !site.interactiveAgents.some((re) => re.test(agent))) return false;
  return isNavigation(headers);
}

/** 401 for scripts on data paths; everything else that is unauthenticated is sent to the login page. */
export function wantsChallenge(headers: ClientHeaders, path: string, site: Pick<Site, "interactiveAgents" | "isDataPath">): boolean {
  return site.isDataPath(path) && !isInteractive(headers, site);
}
