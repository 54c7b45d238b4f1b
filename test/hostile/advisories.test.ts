/**
 * Published bypasses of peer gateways, replayed against portcullis. Each test names the advisory it
 * replays; the shape of the attack is kept, the product's names are ours.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";
import { BROWSER, SCRIPT, basic, login, tryLogin } from "../helpers/auth.js";

const IDENTITY = ["x-remote-user", "x-remote-groups", "x-remote-email", "x-remote-provider", "x-remote-name", "x-portcullis-assertion"];

describe("published bypasses of peer gateways stay closed", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({
      upstream: { url: upstream.url },
      access: {
        defaultPolicy: "authenticated",
        rules: [
          { paths: ["/public/**"], policy: "bypass" },
          { paths: ["/admin/**"], policy: "admin" },
          { paths: ["/internal/**"], policy: "deny" },
        ],
      },
      site: { maxFailedLogins: 5 },
    });
    await gw.gateway.accounts.add({ name: "victim", password: "victim-password-1", roles: [], email: "victim@example.org" });
    await gw.gateway.accounts.add({ name: "noemail", password: "noemail-password-1", roles: [] });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  /** Whether a request reached the upstream at all (by a unique marker in its query). */
  const reached = (marker: string) => upstream.received.some((r) => r.url.includes(marker));

  describe("oauth2-proxy CVE-2025-64484 and Traefik CVE-2026-88011: identity headers spelt with _, . or another case", () => {
    for (const spelling of ["X_Remote_User", "x_remote_user", "X-REMOTE-USER", "x-Remote-user", "X.Remote.User", "X_Remote-User", "X-Remote_Groups", "X_PORTCULLIS_ASSERTION"]) {
      it(`never passes a client's ${spelling} header to the upstream`, async () => {
        const marker = `m=${encodeURIComponent(spelling)}`;
        const res = await gw.https(`/public/echo?${marker}`, { headers: { [spelling]: "admin", ...SCRIPT } });
        assert.equal(res.status, 200);
        const got = upstream.received.find((r) => r.url.includes(marker))!;
        for (const name of Object.keys(got.headers)) {
          const canonical = name.toLowerCase().replace(/[_.]/g, "-");
          assert.ok(!IDENTITY.includes(canonical), `the upstream received ${name}: ${String(got.headers[name])}`);
        }
      });
    }
  });

  describe("oauth2-proxy CVE-2025-54576 and Traefik GHSA-fvhj-4qfh-q2hm: a rule matched against the query string or fragment", () => {
    for (const target of ["/admin/x?/public/y", "/admin/x?next=/public/", "/admin/x?x=1&/public/", "/internal/x?/public/", "/admin/x%3F/public/y", "/admin/x%23/public/y"]) {
      it(`judges ${target} by its path alone`, async () => {
        const marker = `q${Math.random().toString(36).slice(2)}`;
        const sep = target.includes("?") ? "&" : "?";
        const res = await gw.https(`${target}${sep}${marker}`, { headers: SCRIPT });
        assert.ok([302, 400, 401, 403].includes(res.status), `${target} answered ${res.status}`);
        assert.equal(reached(marker), false, `${target} reached the upstream anonymously`);
      });
    }
    it("refuses a fragment in the request target instead of matching around it", async () => {
      const res = await gw.https("/public/..#/../admin/x", { headers: SCRIPT });
      assert.ok([302, 400, 401].includes(res.status), `answered ${res.status}`);
    });
  });

  describe("oauth2-proxy CVE-2026-40575 and Traefik CVE-2026-35051: forwarded-URI headers steering a rule", () => {
    const steering = ["X-Forwarded-Uri", "X-Forwarded-Prefix", "X-Original-URL", "X-Rewrite-URL", "X-Original-URI", "X-Forwarded-Path"];
    for (const header of steering) {
      it(`ignores ${header}: /public/x for a request to /admin/x`, async () => {
        const marker = `s${Math.random().toString(36).slice(2)}`;
        const res = await gw.https(`/admin/x?${marker}`, { headers: { [header]: "/public/x", ...SCRIPT } });
        assert.equal(res.status, 302, "sent to the login page like any anonymous request to /admin");
        assert.equal(reached(marker), false);
      });
    }
    it("never passes a client's rewrite headers to the upstream, which an IIS or Symfony application would follow", async () => {
      const marker = `r${Math.random().toString(36).slice(2)}`;
      const headers: Record<string, string> = { ...SCRIPT };
      for (const h of steering) headers[h] = "/admin/x";
      const res = await gw.https(`/public/x?${marker}`, { headers });
      assert.equal(res.status, 200);
      const got = upstream.received.find((r) => r.url.includes(marker))!;
      for (const h of ["x-original-url", "x-rewrite-url", "x-forwarded-uri", "x-forwarded-prefix", "x-forwarded-path"]) {
        assert.equal(got.headers[h], undefined, `the upstream received ${h}`);
      }
    });
  });

  describe("oauth2-proxy CVE-2026-34457: a health-check User-Agent", () => {
    for (const agent of ["kube-probe/1.29", "GoogleHC/1.0", "ELB-HealthChecker/2.0", "Consul Health Check", "portcullis-healthcheck"]) {
      it(`gives ${agent} no way past authentication`, async () => {
        const marker = `h${Math.random().toString(36).slice(2)}`;
        for (const path of [`/private/x?${marker}`, `/admin/x?${marker}`, `/gateway/healthz/../../admin/x?${marker}`]) {
          const res = await gw.https(path, { headers: { "user-agent": agent } });
          assert.ok([302, 401, 403].includes(res.status), `${path} answered ${res.status}`);
        }
        assert.equal(reached(marker), false);
        assert.equal((await gw.https("/gateway/healthz", { headers: { "user-agent": agent } })).status, 200, "the health route still answers");
      });
    }
  });

  describe("Authelia CVE-2025-24806: spellings of one name sharing one lockout", () => {
    it("counts failures under every spelling that names the account, and no spelling logs in once it is locked", async () => {
      const spellings = ["victim", "local/victim", "VICTIM", "Victim", " victim", "victim ", "victim@example.org", "LOCAL/victim"];
      for (let i = 0; i < 5; i++) {
        const out = await tryLogin(gw, ["victim", "local/victim"][i % 2]!, "wrong-password");
        assert.equal(out.res.status, 401);
      }
      for (const name of spellings) {
        const out = await tryLogin(gw, name, "victim-password-1");
        assert.equal(out.res.status, 401, `${JSON.stringify(name)} logged in past the lock`);
        assert.equal(out.cookie, "");
      }
      const viaBasic = await gw.https("/private/x", { headers: { ...SCRIPT, authorization: basic("local/victim", "victim-password-1") } });
      assert.equal(viaBasic.status, 401, "Basic credentials with another spelling passed the lock");
    });
  });

  describe("Caddy CVE-2026-30851: identity headers left in place when the gateway sets none", () => {
    it("removes a client's identity headers from an anonymous request on a bypass path", async () => {
      const marker = `c${Math.random().toString(36).slice(2)}`;
      const headers: Record<string, string> = { ...BROWSER };
      for (const h of IDENTITY) headers[h] = "admin";
      const res = await gw.https(`/public/x?${marker}`, { headers });
      assert.equal(res.status, 200);
      const got = upstream.received.find((r) => r.url.includes(marker))!;
      for (const h of IDENTITY) assert.equal(got.headers[h], undefined, `the upstream received ${h}`);
    });

    it("removes a client's X-Remote-Email when the signed-in user has no email", async () => {
      const who = await login(gw, "noemail", "noemail-password-1");
      const marker = `e${Math.random().toString(36).slice(2)}`;
      const res = await gw.https(`/private/x?${marker}`, { headers: { cookie: who.cookie, "x-remote-email": "admin@example.org", "x-remote-groups": "admin", "x-remote-name": "Admin" } });
      assert.equal(res.status, 200);
      const got = upstream.received.find((r) => r.url.includes(marker))!;
      assert.equal(got.headers["x-remote-user"], "noemail");
      assert.equal(got.headers["x-remote-email"], undefined);
      assert.notEqual(got.headers["x-remote-groups"], "admin");
      assert.notEqual(got.headers["x-remote-name"], "Admin");
    });
  });
});
