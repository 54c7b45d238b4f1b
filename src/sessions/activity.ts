/**
 * Which requests keep a session alive (SPEC §4 `sessionTimeout`): those the access rules do not
 * waive. The credentials stage only validates the cookie; the access stage calls this once it knows
 * the path is not `bypass`, so a public page that polls cannot hold a session open until its
 * absolute limit.
 */
import { endsAtText } from "./expiry.js";
import type { RequestScope } from "../pipeline/scope.js";
import type { SessionService } from "./session-service.js";

/** Slides the session that authenticated a request and moves its X-Session-Expires to match. */
export function sessionActivity(sessions: Pick<SessionService, "slide">): (scope: RequestScope) => void {
  return (scope) => {
    const identity = scope.identity;
    if (identity.kind !== "session") return;
    const slid = sessions.slide(identity.session);
    // The same record within a second of the last slide: nothing moved.
    if (slid === identity.session) return;
    scope.identity = { ...identity, session: slid };
    (scope.responseHeaders ??= {})["x-session-expires"] = endsAtText(slid);
  };
}
