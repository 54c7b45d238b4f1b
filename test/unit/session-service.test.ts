/**
 * SessionService on a moved clock (SPEC §4 sessionTimeout, §6.2): validating a cookie never slides the
 * idle timeout; `slide` does, at most one store write a second, and what it slid is what the next
 * validation from memory answers.
 */
import { ANONYMOUS, sessionOf } from "../../src/auth/identity.js";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { createLogger } from "../../src/log/logger.js";
import { SessionService } from "../../src/sessions/session-service.js";
import { sessionActivity } from "../../src/sessions/activity.js";
import { createEmbeddedStore } from "../../src/store/embedded/embedded-store.js";
import type { RequestScope } from "../../src/pipeline/scope.js";
import type { SessionRecord, Store } from "../../src/store/store.js";

const MINUTE = 60_000;

describe("SessionService", () => {
  const clock = new ManualClock();
  let store: Store;
  let touches = 0;
  let sessions: SessionService;
  before(async () => {
    const inner = await createEmbeddedStore({ dataDir: null });
    store = {
      ...inner,
      touchSession(...args) {
        touches++;
        return inner.touchSession(...args);
      },
    };
    sessions = new SessionService({ store, clock, log: createLogger({ level: "silent" }), idleTimeoutMs: () => 15 * MINUTE, absoluteTimeoutMs: 12 * 60 * MINUTE, maxSessions: () => 100, limitPolicy: "refuse" });
  });
  after(() => store.close());

  const newSession = async () => (await sessions.create({ user: "bob", roles: ["user"], provider: "local" }, true))!;
  const valid = async (cookie: string): Promise<SessionRecord> => {
    const v = await sessions.validate(cookie);
    assert.equal(v.kind, "valid", JSON.stringify(v));
    return (v as { session: SessionRecord }).session;
  };

  it("does not slide when validating: validated every minute, a session still ends 15 minutes after its last activity", async () => {
    const { cookieValue, session } = await newSession();
    const before = touches;
    for (let i = 0; i < 14; i++) {
      clock.advance(MINUTE);
      assert.equal((await valid(cookieValue)).expiresAt, session.expiresAt);
    }
    clock.advance(MINUTE);
    assert.deepEqual(await sessions.validate(cookieValue), { kind: "expired", at: session.expiresAt });
    assert.equal(touches, before, "validation wrote to the store");
  });

  it("slides with slide: slid every minute, a session lives past 20 minutes", async () => {
    const { cookieValue } = await newSession();
    for (let i = 0; i < 20; i++) {
      clock.advance(MINUTE);
      const slid = sessions.slide(await valid(cookieValue));
      assert.equal(slid.expiresAt, clock.now() + 15 * MINUTE);
    }
    clock.advance(14 * MINUTE);
    await valid(cookieValue);
  });

  it("writes a slide to the store at most once a second, and validation from memory answers the slid record", async () => {
    const { cookieValue } = await newSession();
    clock.advance(5_000);
    const before = touches;
    const first = sessions.slide(await valid(cookieValue));
    const cached = await valid(cookieValue);
    assert.equal(cached, first, "the cache still holds the record from before the slide");
    for (let i = 0; i < 5; i++) {
      clock.advance(100);
      assert.equal(sessions.slide(await valid(cookieValue)), first);
    }
    assert.equal(touches - before, 1);
    clock.advance(1_000);
    const later = sessions.slide(await valid(cookieValue));
    assert.notEqual(later, first);
    assert.equal(touches - before, 2);
    // What was written is what another process reads.
    const stored = await store.getSession(later.tag, later.id);
    assert.equal(stored?.expiresAt, later.expiresAt);
  });

  it("moves the request's X-Session-Expires with the slide (sessionActivity), and leaves requests without a session alone", async () => {
    const { cookieValue } = await newSession();
    clock.advance(2_000);
    const session = await valid(cookieValue);
    const principal = { user: session.user, roles: session.roles, provider: session.provider };
    const scope = { identity: { kind: "session", principal, session }, responseHeaders: { "x-session-expires": "before" } } as unknown as RequestScope;
    const activity = sessionActivity(sessions);
    activity(scope);
    assert.equal(scope.identity.kind, "session");
    assert.notEqual(sessionOf(scope.identity), session);
    assert.equal(scope.responseHeaders!["x-session-expires"], new Date(clock.now() + 15 * MINUTE).toISOString());
    const anonymous = { identity: ANONYMOUS } as RequestScope;
    activity(anonymous);
    assert.deepEqual(anonymous, { identity: ANONYMOUS });
  });
});
