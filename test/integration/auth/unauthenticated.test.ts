/**
 * Requests without credentials (SPEC §7 "Unauthenticated requests") and the access rules (SPEC §8.1):
 * browsers are sent to the login page, scripts on data paths get 401 + WWW-Authenticate, guests pass
 * when requireLogin is false, and bypass/admin/deny rules hold on every spelling of a path.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { API, BROWSER, SCRIPT, login } from "../../helpers/auth.js";

interface Echo {
  url: string;
  headers: Record<string, string>;
}

const RULES = [
  { paths: ["/public/**"], policy: "bypass" },
  { paths: ["/admin/**"], policy: "admin" },
  { paths: ["/internal/**"], policy: "deny" },
];

describe("unauthenticated requests", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated", rules: RULES } }, { clock: new ManualClock() });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const reached = () => upstream.received.length;

  it("redirects a browser GET on a non-data path with 302 to the login page carrying returnTo", async () => {
    const before = reached();
    const res = await gw.https("/app/page?x=1", { headers: BROWSER });
    assert.equal(res.status, 302);
    const location = new URL(res.headers.location ?? "", "https://gateway.test");
    assert.equal(location.pathname, "/gateway/login");
    assert.equal(location.searchParams.get("returnTo"), "/app/page?x=1");
    assert.equal(reached(), before);
  });

  it("redirects a browser POST with 303", async () => {
    const res = await gw.https("/app/form", { method: "POST", headers: { ...BROWSER, "content-type": "application/x-www-form-urlencoded" }, body: "a=1" });
    assert.equal(res.status, 303);
    assert.match(res.headers.location ?? "", /^\/gateway\/login\?/);
  });

  for (const path of ["/data/x", "/xapi/x", "/REST/x"]) {
    it(`answers a script (curl) on ${path} with 401 and WWW-Authenticate: Basic realm="portcullis"`, async () => {
      const before = reached();
      const res = await gw.https(path, { headers: SCRIPT });
      assert.equal(res.status, 401);
      assert.match(String(res.headers["www-authenticate"]), /^Basic realm="portcullis"/);
      assert.equal(reached(), before);
    });
  }

  it("answers a client without a User-Agent on a data path with 401", async () => {
    const res = await gw.https("/data/x", { headers: { accept: "*/*" } });
    assert.equal(res.status, 401);
    assert.match(String(res.headers["www-authenticate"]), /^Basic realm="portcullis"/);
  });

  it("answers a client with an empty User-Agent on a data path with 401", async () => {
    const res = await gw.https("/data/x", { headers: { "user-agent": "", accept: "text/html" } });
    assert.equal(res.status, 401);
  });

  const nonInteractive: [string, Record<string, string>][] = [
    ["Accept: application/json", { ...BROWSER, accept: "application/json" }],
    ["X-Requested-With: XMLHttpRequest", { ...BROWSER, "x-requested-with": "XMLHttpRequest" }],
    ["Sec-Fetch-Mode: cors", { ...BROWSER, "sec-fetch-mode": "cors" }],
  ];
  for (const [what, headers] of nonInteractive) {
    it(`answers a browser sending ${what} on a data path with 401`, async () => {
      const res = await gw.https("/data/experiments", { headers });
      assert.equal(res.status, 401);
      // SPEC §6.5: a request carrying Sec-Fetch-Mode gets no Basic challenge (no native password dialog).
      if ("sec-fetch-mode" in headers) assert.equal(res.headers["www-authenticate"], undefined);
      else assert.match(String(res.headers["www-authenticate"]), /^Basic realm="portcullis"/);
    });
  }

  it("redirects a browser navigation on a data path to the login page", async () => {
    const res = await gw.https("/data/experiments", { headers: { ...BROWSER, "sec-fetch-mode": "navigate" } });
    assert.equal(res.status, 302);
    assert.match(res.headers.location ?? "", /^\/gateway\/login\?returnTo=%2Fdata%2Fexperiments/);
  });

  it("lets anyone reach a bypass path without logging in", async () => {
    const res = await gw.https("/public/logo.png", { headers: SCRIPT });
    assert.equal(res.status, 200);
    assert.equal(res.json<Echo>().url, "/public/logo.png");
    assert.equal(res.json<Echo>().headers["x-remote-user"], undefined);
  });

  it("still passes the identity on a bypass path when a session is present", async () => {
    const { cookie } = await login(gw, "admin", "admin-password-1");
    const res = await gw.https("/public/x", { headers: { ...BROWSER, cookie, "x-remote-user": "forged" } });
    assert.equal(res.status, 200);
    assert.equal(res.json<Echo>().headers["x-remote-user"], "admin");
  });

  it("refuses an admin path to a non-admin with 403 and allows it to an admin", async () => {
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user"] });
    const bob = await login(gw, "bob", "bob-password-1");
    const admin = await login(gw, "admin", "admin-password-1");
    const before = reached();
    assert.equal((await gw.https("/admin/x", { headers: { ...BROWSER, cookie: bob.cookie } })).status, 403);
    assert.equal(reached(), before);
    const ok = await gw.https("/admin/x", { headers: { ...BROWSER, cookie: admin.cookie } });
    assert.equal(ok.status, 200);
    assert.equal(ok.json<Echo>().headers["x-remote-user"], "admin");
  });

  it("refuses a deny path with 403 to everyone, admins included", async () => {
    const admin = await login(gw, "admin", "admin-password-1");
    const before = reached();
    assert.equal((await gw.https("/internal/x", { headers: { ...BROWSER, cookie: admin.cookie } })).status, 403);
    assert.equal((await gw.https("/internal/x", { headers: SCRIPT })).status, 403);
    assert.equal(reached(), before);
  });

  for (const path of ["/%61dmin/x", "//admin/x", "/admin/../admin/x", "/public/../admin/x"]) {
    it(`applies the admin rule to ${path}`, async () => {
      const bob = await login(gw, "bob", "bob-password-1");
      const before = reached();
      assert.equal((await gw.https(path, { headers: { ...BROWSER, cookie: bob.cookie } })).status, 403);
      assert.notEqual((await gw.https(path, { headers: SCRIPT })).status, 200);
      assert.equal(reached(), before, `${path} reached the upstream`);
    });
  }

  it("answers a script on a non-data path with a redirect to the login page (only data paths challenge)", async () => {
    const res = await gw.https("/app/page", { headers: SCRIPT });
    assert.equal(res.status, 302);
  });
});

describe("requireLogin false", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated", rules: RULES }, site: { requireLogin: false } },
      { clock: new ManualClock() },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("proxies an unauthenticated request as the guest with X-Remote-User guest", async () => {
    const res = await gw.https("/data/x", { headers: { ...SCRIPT, "x-remote-user": "admin" } });
    assert.equal(res.status, 200);
    assert.equal(res.json<Echo>().headers["x-remote-user"], "guest");
  });

  it("still refuses admin paths to the guest", async () => {
    const res = await gw.https("/admin/x", { headers: API });
    assert.notEqual(res.status, 200);
    assert.ok([401, 403, 302].includes(res.status), String(res.status));
  });

  it("still identifies a logged-in user rather than the guest", async () => {
    const { cookie } = await login(gw, "admin", "admin-password-1");
    const res = await gw.https("/data/x", { headers: { ...API, cookie } });
    assert.equal(res.json<Echo>().headers["x-remote-user"], "admin");
  });
});
