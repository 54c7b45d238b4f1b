/**
 * Browser or script (SPEC §7, XNAT's interactiveAgentIds and dataPaths): decides whether an
 * unauthenticated request gets 401 + WWW-Authenticate (scripts, JSON and XHR clients, non-navigations
 * on data paths) or a redirect to the login page (people in browsers).
 */
import type http from "node:http";
import type { Site } from "../config/site.js";

/**
 * Browsers' User-Agents are a few hundred characters; a longer one is not matched at all (it is a
 * script's), so that no admin pattern is run over a header the size of the header limit.
 */
export const MAX_AGENT_LENGTH = 1024;

export function isInteractive(req: http.IncomingMessage, site: Site): boolean {
  const agent = req.headers["user-agent"] ?? "";
  if (agent === "" || agent.length > MAX_AGENT_LENGTH || !site.interactiveAgents.some((re) => re.test(agent))) return false;
  const accept = req.headers.accept ?? "";
  if (accept.includes("application/json") && !accept.includes("text/html")) return false;
  if (req.headers["x-requested-with"] === "XMLHttpRequest") return false;
  const mode = req.headers["sec-fetch-mode"];
  if (mode !== undefined && mode !== "navigate") return false;
  return true;
}

/** 401 for scripts on data paths; everything else that is unauthenticated is sent to the login page. */
export function wantsChallenge(req: http.IncomingMessage, path: string, site: Site): boolean {
  return site.isDataPath(path) && !isInteractive(req, site);
}
