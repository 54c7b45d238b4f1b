/**
 * Admin routes for sessions and accounts (SPEC §6.2, §6.4): list and end sessions without revealing
 * secrets, end all of a user's sessions, re-enable accounts; admins only.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { API, audits, login, tryLogin, type LoginOutcome } from "../../helpers/auth.js";

interface SessionView {
  id: string;
  user: string;
}

describe("admin routes", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let admin: LoginOutcome;
  const clock = new ManualClock();
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" } }, { clock });
    for (const name of ["bob", "cora", "dina", "ed"]) await gw.gateway.accounts.add({ name, password: `${name}-password-1`, roles: ["user"] });
    admin = await login(gw, "admin", "admin-password-1");
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const asAdmin = (path: string, method = "GET") => gw.https(path, { method, headers: { ...API, cookie: admin.cookie, "x-csrf-token": admin.csrfToken } });
  const works = async (cookie: string) => (await gw.https("/data/x", { headers: { ...API, cookie } })).status === 200;

  it("lists a user's sessions at GET /gateway/admin/sessions?user= with <tag>.<hash> ids and no secrets", async () => {
    const a = await login(gw, "bob", "bob-password-1");
    clock.advance(2_000);
    const b = await login(gw, "bob", "bob-password-1");
    const res = await asAdmin("/gateway/admin/sessions?user=bob");
    assert.equal(res.status, 200);
    const sessions = res.json<{ sessions: SessionView[] }>().sessions;
    assert.equal(sessions.length, 2);
    for (const s of sessions) {
      assert.equal(s.user, "bob");
      assert.match(s.id, /^[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{16,}$/);
    }
    for (const o of [a, b]) {
      const secret = o.cookie.split("=")[1]!.split(".")[1]!;
      assert.equal(res.body.includes(secret), false, "a cookie secret is listed");
      assert.equal(res.body.includes(o.csrfToken), false, "a CSRF token is listed");
    }
    assert.equal(res.body.includes("csrfToken"), false);
  });

  it("ends exactly one session at DELETE /gateway/admin/sessions/{id}", async () => {
    const first = await login(gw, "cora", "cora-password-1");
    clock.advance(2_000);
    const second = await login(gw, "cora", "cora-password-1");
    const listed = (await asAdmin("/gateway/admin/sessions?user=cora")).json<{ sessions: (SessionView & { createdAt: string })[] }>().sessions;
    assert.equal(listed.length, 2);
    const oldest = [...listed].sort((x, y) => x.createdAt.localeCompare(y.createdAt))[0]!;
    const from = gw.logs.lines.length;
    const res = await asAdmin(`/gateway/admin/sessions/${oldest.id}`, "DELETE");
    assert.equal(res.status, 200);
    assert.equal(await works(first.cookie), false, "the ended session still works");
    assert.equal(await works(second.cookie), true, "the other session ended too");
    assert.equal(audits(gw, "session.ended", from).length, 1);
    assert.equal((await asAdmin(`/gateway/admin/sessions/${oldest.id}`, "DELETE")).status, 404);
  });

  it("names the user whose session it was in the audit of DELETE /gateway/admin/sessions/{id}", async () => {
    await login(gw, "cora", "cora-password-1");
    const [target] = (await asAdmin("/gateway/admin/sessions?user=cora")).json<{ sessions: SessionView[] }>().sessions;
    const from = gw.logs.lines.length;
    assert.equal((await asAdmin(`/gateway/admin/sessions/${target!.id}`, "DELETE")).status, 200);
    const [line] = audits(gw, "session.ended", from);
    assert.equal(line?.user, "cora", JSON.stringify(line));
    assert.equal(line?.by, "admin");
    assert.equal(line?.reason, "admin");
  });

  it("lists directory (LDAP) users' sessions too at GET /gateway/admin/sessions without ?user=", async () => {
    // A directory user has no local account: the session is made as an LDAP login makes it.
    const made = await gw.gateway.sessions.create({ user: "ldap-lou", roles: ["user"], provider: "ldap" }, true);
    assert.ok(made);
    await login(gw, "bob", "bob-password-1");
    const res = await asAdmin("/gateway/admin/sessions");
    assert.equal(res.status, 200, res.body);
    const listed = res.json<{ sessions: (SessionView & { provider: string })[] }>().sessions;
    const lou = listed.filter((s) => s.user === "ldap-lou");
    assert.equal(lou.length, 1, `the directory user's session is not listed: ${res.body}`);
    assert.equal(lou[0]!.provider, "ldap");
    assert.equal(lou[0]!.id, `${made.session.tag}.${made.session.id}`);
    assert.ok(listed.some((s) => s.user === "bob"), "a local user's session is missing");
    assert.equal(res.body.includes(made.cookieValue.split(".")[1]!), false, "a cookie secret is listed");
  });

  it("takes the user name in the path as decoded once: /gateway/admin/users/%25/unlock is the name \"%\", not a 500", async () => {
    const unlocked = await asAdmin("/gateway/admin/users/%25/unlock", "POST");
    assert.equal(unlocked.status, 200, unlocked.body);
    assert.deepEqual(unlocked.json(), { unlocked: "%" });
    const enabled = await asAdmin("/gateway/admin/users/a%25/enable", "POST");
    assert.equal(enabled.status, 404, enabled.body);
    const ended = await asAdmin("/gateway/admin/users/%25/sessions", "DELETE");
    assert.equal(ended.status, 200, ended.body);
    assert.deepEqual(ended.json(), { ended: 0 });
  });

  it("ends every session of a user at DELETE /gateway/admin/users/{name}/sessions", async () => {
    const one = await login(gw, "dina", "dina-password-1");
    const two = await login(gw, "dina", "dina-password-1");
    const other = await login(gw, "ed", "ed-password-1");
    const res = await asAdmin("/gateway/admin/users/dina/sessions", "DELETE");
    assert.equal(res.status, 200);
    assert.equal(res.json<{ ended: number }>().ended, 2);
    assert.equal(await works(one.cookie), false);
    assert.equal(await works(two.cookie), false);
    assert.equal(await works(other.cookie), true);
    assert.equal((await asAdmin("/gateway/admin/sessions?user=dina")).json<{ sessions: unknown[] }>().sessions.length, 0);
  });

  it("refuses the admin routes to non-admins with 403", async () => {
    const ed = await login(gw, "ed", "ed-password-1");
    const headers = { ...API, cookie: ed.cookie, "x-csrf-token": ed.csrfToken };
    const target = (await asAdmin("/gateway/admin/sessions?user=ed")).json<{ sessions: SessionView[] }>().sessions[0]!.id;
    assert.equal((await gw.https("/gateway/admin/sessions?user=bob", { headers })).status, 403);
    assert.equal((await gw.https("/gateway/admin/sessions", { headers })).status, 403);
    assert.equal((await gw.https(`/gateway/admin/sessions/${target}`, { method: "DELETE", headers })).status, 403);
    assert.equal((await gw.https("/gateway/admin/users/bob/sessions", { method: "DELETE", headers })).status, 403);
    assert.equal((await gw.https("/gateway/admin/users/ed/enable", { method: "POST", headers })).status, 403);
    assert.equal((await gw.https("/gateway/admin/users", { headers })).status, 403);
    assert.equal(await works(ed.cookie), true);
  });

  it("refuses the admin routes without credentials", async () => {
    const res = await gw.https("/gateway/admin/sessions", { headers: API });
    assert.equal(res.status, 401);
  });

  it("re-enables a disabled account at POST /gateway/admin/users/{name}/enable", async () => {
    await gw.gateway.accounts.setEnabled("ed", false);
    assert.equal((await tryLogin(gw, "ed", "ed-password-1")).res.status, 401);
    const from = gw.logs.lines.length;
    const res = await asAdmin("/gateway/admin/users/ed/enable", "POST");
    assert.equal(res.status, 200);
    assert.equal(audits(gw, "account.enabled", from).length, 1);
    assert.equal((await gw.gateway.accounts.get("ed"))!.enabled, true);
    await login(gw, "ed", "ed-password-1");
    assert.equal((await asAdmin("/gateway/admin/users/nobody/enable", "POST")).status, 404);
  });
});
