/**
 * Sessions whose cookie crossed the network in the clear end at once (SPEC §5): every one the
 * request names, a cookie sent twice or behind a tossed one included.
 */
import type http from "node:http";
import { audit, type Logger } from "../log/logger.js";
import { readCookies } from "./cookie.js";
import { parseCookieValue } from "./ids.js";
import type { SessionService } from "./session-service.js";

export function revokeExposedSessions(sessions: Pick<SessionService, "end">, cookieName: string): (req: http.IncomingMessage, log: Logger) => Promise<void> {
  return async (req, log) => {
    const end = async (value: string) => {
      const credential = parseCookieValue(value);
      if (!credential) return;
      try {
        const user = await sessions.end(credential);
        if (user !== null) audit(log, "session.ended", { user, reason: "exposed-in-plaintext" });
      } catch (err) {
        log.error({ err: (err as Error).message }, "could not revoke an exposed session");
      }
    };
    await Promise.all(readCookies(req, cookieName).map(end));
  };
}
