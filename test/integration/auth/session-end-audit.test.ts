/**
 * Every audit line of a session ending names the user (issue #15 item 12): a session revoked because
 * its cookie crossed the plaintext port, one evicted by a newer login, logout and logout/all.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { API, audits, login } from "../../helpers/auth.js";

describe("session.ended audit lines", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, site: { concurrentMaxSessions: 1 }, session: { limitPolicy: "evictOldest" } },
      { clock: new ManualClock() },
    );
    await gw.gateway.accounts.add({ name: "erin", password: "erin-password-1", roles: ["user"] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("name the user whose session was revoked because its cookie came over plaintext", async () => {
    const out = await login(gw, "erin", "erin-password-1");
    const from = gw.logs.lines.length;
    const plain = await gw.http("/data/x", { headers: { ...API, cookie: out.cookie } });
    assert.equal(plain.status, 308);
    const ended = audits(gw, "session.ended", from);
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.user, "erin");
    assert.equal(ended[0]!.reason, "exposed-in-plaintext");
  });

  it("name the user whose oldest session a newer login evicted", async () => {
    await login(gw, "erin", "erin-password-1");
    const from = gw.logs.lines.length;
    await login(gw, "erin", "erin-password-1");
    const ended = audits(gw, "session.ended", from);
    assert.equal(ended.length, 1, JSON.stringify(ended));
    assert.equal(ended[0]!.user, "erin");
    assert.equal(ended[0]!.count, 1);
  });

  it("name the user on logout and logout/all, and every one logged here names a user", async () => {
    const out = await login(gw, "erin", "erin-password-1");
    const headers = { ...API, cookie: out.cookie, "x-csrf-token": out.csrfToken, origin: `https://127.0.0.1:${gw.securePort}` };
    assert.equal((await gw.https("/gateway/logout", { method: "POST", headers })).status < 400, true);
    const again = await login(gw, "erin", "erin-password-1");
    const headers2 = { ...API, cookie: again.cookie, "x-csrf-token": again.csrfToken, origin: `https://127.0.0.1:${gw.securePort}` };
    assert.equal((await gw.https("/gateway/logout/all", { method: "POST", headers: headers2 })).status < 400, true);
    const all = audits(gw, "session.ended");
    const reasons = all.map((l) => l.reason);
    for (const reason of ["exposed-in-plaintext", "evicted-by-newer-login", "logout", "logout-all"]) assert.ok(reasons.includes(reason), `no ${reason} in ${JSON.stringify(reasons)}`);
    for (const line of all) assert.equal(typeof line.user === "string" && line.user !== "", true, `a session.ended line without its user: ${JSON.stringify(line)}`);
  });
});
