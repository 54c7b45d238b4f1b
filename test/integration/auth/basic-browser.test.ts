/**
 * Browsers and Basic credentials (SPEC §6.5, issue #15): a browser replays Basic credentials it has
 * cached, so a state-changing request it marks as sent from another site is refused whatever
 * authenticated it; a browser is never asked for Basic credentials (no native password dialog); and
 * method-override headers never reach the upstream, so the method the gateway judged is the one run.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { BROWSER, DAY, SCRIPT, audits, basic, login, ownOrigin } from "../../helpers/auth.js";

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
}

const FORM = { "content-type": "application/x-www-form-urlencoded", "user-agent": "Mozilla/5.0" };
const STATE_CHANGING = ["POST", "PUT", "PATCH", "DELETE"];

describe("Basic credentials sent by a browser from another site", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated", rules: [{ paths: ["/public/**"], policy: "bypass" }] } },
      { clock: new ManualClock() },
    );
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user"] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const send = (path: string, method: string, headers: Record<string, string>) =>
    gw.https(path, { method, headers: { ...FORM, "content-length": "3", authorization: basic("bob", "bob-password-1"), ...headers }, body: "a=1" });

  for (const site of ["cross-site", "same-site"]) {
    for (const method of STATE_CHANGING) {
      it(`refuses a Basic-authenticated ${method} marked Sec-Fetch-Site: ${site} with 403 ERR_CSRF, audits it and sends nothing upstream`, async () => {
        const before = upstream.received.length;
        const from = gw.logs.lines.length;
        const res = await send("/app/transfer", method, { "sec-fetch-site": site, "sec-fetch-mode": "navigate", accept: "application/json" });
        assert.equal(res.status, 403);
        assert.equal(res.json<{ error: string }>().error, "ERR_CSRF");
        assert.equal(upstream.received.length, before);
        const refused = audits(gw, "csrf.refused", from);
        assert.equal(refused.length, 1);
        assert.equal(refused[0]!.user, "bob");
        assert.equal(refused[0]!.fetchSite, site);
      });
    }
  }

  it("refuses a cross-site Basic POST to the gateway's own routes too (tokens are issued there)", async () => {
    const res = await send("/gateway/data/services/tokens/issue", "POST", { "sec-fetch-site": "cross-site", accept: "application/json" });
    assert.equal(res.status, 403);
    assert.equal(res.json<{ error: string }>().error, "ERR_CSRF");
  });

  it("refuses a cross-site Basic POST to a bypass path: the browser still lent the user's identity", async () => {
    const before = upstream.received.length;
    const res = await send("/public/form", "POST", { "sec-fetch-site": "cross-site" });
    assert.equal(res.status, 403);
    assert.equal(upstream.received.length, before);
  });

  for (const site of ["same-origin", "none"]) {
    it(`passes a Basic POST marked Sec-Fetch-Site: ${site} to the upstream as the user`, async () => {
      const res = await send("/app/transfer", "POST", { "sec-fetch-site": site });
      assert.equal(res.status, 200);
      assert.equal(res.json<Echo>().headers["x-remote-user"], "bob");
    });
  }

  it("passes a script's Basic POST without Fetch Metadata, whatever Origin it names (scripts are not browsers)", async () => {
    for (const origin of [undefined, "https://evil.example", ownOrigin(gw)]) {
      const res = await send("/data/upload", "POST", { ...SCRIPT, ...(origin ? { origin } : {}) });
      assert.equal(res.status, 200, String(origin));
    }
  });

  for (const method of ["GET", "HEAD", "OPTIONS"]) {
    it(`lets a cross-site Basic ${method} through (only state changes are refused)`, async () => {
      const res = await gw.https("/app/page", { method, headers: { ...SCRIPT, authorization: basic("bob", "bob-password-1"), "sec-fetch-site": "cross-site" } });
      assert.equal(res.status, 200);
    });
  }

  it("refuses a cross-site POST carrying both Basic credentials and a session cookie", async () => {
    const session = await login(gw, "bob", "bob-password-1");
    const res = await send("/app/transfer", "POST", { cookie: session.cookie, "sec-fetch-site": "cross-site" });
    assert.equal(res.status, 403);
  });

  // Decision: a request with no credential carries nothing a page elsewhere could borrow, and
  // identity-provider answers (SAML POST binding, OIDC form_post) are cross-site form posts to public
  // paths. Such requests are not refused.
  it("passes an anonymous cross-site POST to a bypass path (no credential to borrow)", async () => {
    const res = await gw.https("/public/saml/acs", { method: "POST", headers: { ...FORM, "sec-fetch-site": "cross-site", origin: "https://idp.example" }, body: "SAMLResponse=x" });
    assert.equal(res.status, 200);
    assert.equal(res.json<Echo>().headers["x-remote-user"], undefined);
  });
});

describe("enableCsrfToken false and Basic credentials from another site", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, site: { enableCsrfToken: false } }, { clock: new ManualClock() });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("lets the cross-site Basic POST through, as every other CSRF check is off", async () => {
    const res = await gw.https("/app/transfer", { method: "POST", headers: { ...FORM, authorization: basic("admin", "admin-password-1"), "sec-fetch-site": "cross-site" }, body: "x=1" });
    assert.equal(res.status, 200);
  });
});

describe("401 answers to browsers", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" } }, { clock });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  for (const mode of ["cors", "no-cors", "same-origin", "navigate", "websocket", "nested-navigate"]) {
    it(`carry no WWW-Authenticate for a request with Sec-Fetch-Mode: ${mode} (no native password dialog)`, async () => {
      // A script's User-Agent, so that even a navigation is answered 401 on a data path.
      const res = await gw.https("/data/experiments", { headers: { ...SCRIPT, "sec-fetch-mode": mode } });
      assert.equal(res.status, 401);
      assert.equal(res.headers["www-authenticate"], undefined);
    });
  }

  it("carry no WWW-Authenticate when a browser's Basic credentials are wrong", async () => {
    const res = await gw.https("/data/x", { headers: { ...BROWSER, "sec-fetch-mode": "cors", authorization: basic("admin", "wrong-password") } });
    assert.equal(res.status, 401);
    assert.equal(res.headers["www-authenticate"], undefined);
  });

  it("carry no WWW-Authenticate for a browser's fetch whose session timed out, and still do for a script's", async () => {
    const browser = await login(gw, "admin", "admin-password-1");
    const script = await login(gw, "admin", "admin-password-1");
    clock.advance(DAY);
    const fetched = await gw.https("/app/x", { headers: { ...BROWSER, accept: "application/json", "sec-fetch-mode": "cors", cookie: browser.cookie } });
    assert.equal(fetched.status, 401);
    assert.equal(fetched.headers["www-authenticate"], undefined);
    const scripted = await gw.https("/app/x", { headers: { ...SCRIPT, accept: "application/json", cookie: script.cookie } });
    assert.equal(scripted.status, 401);
    assert.match(String(scripted.headers["www-authenticate"]), /^Basic realm="portcullis"/);
  });

  it("still challenge scripts, which send no Sec-Fetch-Mode", async () => {
    for (const headers of [SCRIPT, { ...SCRIPT, authorization: basic("admin", "wrong-password") }]) {
      const res = await gw.https("/data/x", { headers });
      assert.equal(res.status, 401);
      assert.match(String(res.headers["www-authenticate"]), /^Basic realm="portcullis"/);
    }
  });
});

describe("method-override headers", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      {
        upstream: { url: upstream.url },
        access: { defaultPolicy: "authenticated", rules: [{ paths: ["/records/**"], methods: ["DELETE", "PUT", "PATCH"], policy: "deny" }] },
      },
      { clock: new ManualClock() },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const OVERRIDES = ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"];

  for (const name of OVERRIDES) {
    for (const method of ["GET", "POST"]) {
      it(`never reach the upstream: a ${method} with ${name}: DELETE is passed on as a ${method} without it`, async () => {
        const res = await gw.https("/records/7", {
          method,
          headers: { ...SCRIPT, authorization: basic("admin", "admin-password-1"), [name]: "DELETE", ...(method === "POST" ? { "content-type": "text/plain" } : {}) },
          ...(method === "POST" ? { body: "x" } : {}),
        });
        assert.equal(res.status, 200);
        const echo = res.json<Echo>();
        assert.equal(echo.method, method);
        for (const other of OVERRIDES) assert.equal(echo.headers[other.toLowerCase()], undefined, other);
      });
    }
  }

  it("never reach the upstream when the client sends all of them, in any letter case", async () => {
    const res = await gw.https("/records/8", { headers: { ...SCRIPT, authorization: basic("admin", "admin-password-1"), "x-http-method-override": "PUT", "X-HTTP-METHOD": "PATCH", "x-Method-Override": "DELETE" } });
    assert.equal(res.status, 200);
    const echo = res.json<Echo>();
    for (const other of OVERRIDES) assert.equal(echo.headers[other.toLowerCase()], undefined, other);
  });

  it("do not change how the rules judge a request: the method on the request line is the one judged", async () => {
    const res = await gw.https("/records/9", { method: "DELETE", headers: { ...SCRIPT, authorization: basic("admin", "admin-password-1"), "x-http-method-override": "GET" } });
    assert.equal(res.status, 403);
  });
});
