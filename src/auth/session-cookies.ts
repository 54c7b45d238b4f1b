/**
 * The session cookie as a credential (SPEC §6.1, §5): every value the request carries is read (a
 * sibling domain can toss its own in front, RFC 6265 §8.6), the first naming a live session
 * authenticates it, and a TLS-only session whose cookie arrives in plaintext ends at once.
 */
import { endsAtText } from "../sessions/expiry.js";
import { audit } from "../log/logger.js";
import type { Exchange } from "../pipeline/stage.js";
import type { SessionService, Validation } from "../sessions/session-service.js";
import type { SessionRecord } from "../store/store.js";
import { failClosed } from "./fail-closed.js";
import type { Identity } from "./identity.js";

export class SessionCookies {
  // What a session record gives each of its requests (identity, X-Session-Expires value), made once:
  // records are shared while the session service caches them, so is this.
  private readonly fromRecord = new WeakMap<SessionRecord, { identity: Identity; expires: string }>();

  constructor(private readonly sessions: Pick<SessionService, "validate" | "end">) {}

  /** Synchronous when one value is a session validated in the last second; otherwise asks the store (fail closed). */
  identify(x: Exchange, values: readonly string[]): void | Promise<void> {
    if (values.length > 1 && x.scope.listener === "insecure") return failClosed(x, this.plaintext(x, values));
    return this.first(x, values, 0);
  }

  /** The first value naming a valid session authenticates the request, so junk in front cannot log the user out. */
  private first(x: Exchange, values: readonly string[], from: number): void | Promise<void> {
    for (let i = from; i < values.length; i++) {
      const result = this.sessions.validate(values[i]!);
      const taken = result instanceof Promise ? result.then((r) => this.take(x, r)) : this.take(x, result);
      if (taken === true) return;
      if (taken !== false) return failClosed(x, taken.then((ok) => (ok ? undefined : this.first(x, values, i + 1))));
    }
  }

  /**
   * In plaintext (allow mode) every value is looked at, also after one has authenticated the request:
   * each locked session named has had its cookie cross the network in the clear and ends (SPEC §5).
   */
  private async plaintext(x: Exchange, values: readonly string[]): Promise<void> {
    let authenticated = false;
    for (const value of values) {
      const result = await this.sessions.validate(value);
      if (result.kind === "valid" && result.session.encrypted) await this.endExposed(x, result.session);
      else if (!authenticated) authenticated = await this.take(x, result);
    }
  }

  /**
   * What one value's validation gives the request: true when it authenticates it; false when the
   * next value should be tried (none, expired, or a locked session seen in plaintext, which ends).
   */
  private take(x: Exchange, result: Validation): boolean | Promise<boolean> {
    const { scope } = x;
    if (result.kind === "valid" && result.session.encrypted && scope.listener === "insecure") return this.endExposed(x, result.session).then(() => false);
    if (result.kind === "valid") {
      const s = result.session;
      let known = this.fromRecord.get(s);
      if (known === undefined) {
        known = {
          identity: { kind: "session", session: s, principal: { user: s.user, roles: s.roles, email: s.email, name: s.name, provider: s.provider } },
          expires: endsAtText(s),
        };
        this.fromRecord.set(s, known);
      }
      scope.identity = known.identity;
      (scope.responseHeaders ??= {})["x-session-expires"] = known.expires;
      return true;
    }
    // The first timeout seen is the one the login page mentions, unless a later value authenticates.
    if (result.kind === "expired" && scope.identity.kind === "anonymous" && scope.identity.expiredAt === undefined) scope.identity = { kind: "anonymous", expiredAt: result.at };
    return false;
  }

  /** A locked (TLS-only) session's cookie arrived in plaintext: it is exposed, so it ends (SPEC §5). */
  private async endExposed(x: Exchange, session: SessionRecord): Promise<void> {
    const { scope } = x;
    await this.sessions.end({ tag: session.tag, id: session.id });
    audit(scope.log, "credential.exposed", { carried: "session-cookie", user: session.user, listener: "insecure", ip: scope.clientIp, requestId: scope.id });
    audit(scope.log, "session.ended", { user: session.user, reason: "exposed-in-plaintext", requestId: scope.id });
  }
}
