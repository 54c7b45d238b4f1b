/**
 * Encoded slashes and other spellings of a path at the gateway (issue #15, SPEC §8.1): with
 * `defaultPolicy: bypass`, no spelling of an admin or deny path reaches the upstream anonymously,
 * and what the upstream receives is the path the rules judged.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";
import { BROWSER, SCRIPT, login } from "../helpers/auth.js";

const RULES = [
  { paths: ["/admin/**"], policy: "admin" },
  { paths: ["/internal/**"], policy: "deny" },
  { paths: ["/data/projects/*"], methods: ["PUT"], policy: "admin" },
];

const REFUSALS = [400, 401, 302, 403];

describe("encoded slashes in request paths", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "bypass", rules: RULES } }, { clock: new ManualClock() });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const reached = () => upstream.received.length;

  const sneaky = [
    "/%2fadmin/x",
    "/%2Fadmin/x",
    "/%2Finternal/x",
    "/%2F%2Finternal/x",
    "/%2f%2finternal/x",
    "/admin%2Fx",
    "/x/%2e%2e/admin/x",
    "/x/%2E%2E/internal/x",
    "/;x/admin/y",
    "/admin;jsessionid=1/y",
    "/public/..;/internal/x",
    "/%252fadmin/x",
    "/%2561dmin/x",
  ];
  for (const path of sneaky) {
    it(`does not let ${path} reach the upstream anonymously`, async () => {
      const before = reached();
      for (const headers of [SCRIPT, BROWSER]) {
        const res = await gw.https(path, { headers });
        assert.ok(REFUSALS.includes(res.status), `${path}: ${res.status}`);
      }
      assert.equal(reached(), before, `${path} reached the upstream`);
    });
  }

  it("refuses an encoded slash that makes an empty segment with 400", async () => {
    for (const path of ["/%2fadmin/x", "/%2Finternal/x", "/%2F%2Finternal/x"]) {
      assert.equal((await gw.https(path, { headers: SCRIPT })).status, 400, path);
    }
  });

  it("applies a rule about one name to a name holding an encoded slash (PUT /data/projects/a%2Fb)", async () => {
    const before = reached();
    const res = await gw.https("/data/projects/a%2Fb", { method: "PUT", headers: SCRIPT });
    assert.ok(REFUSALS.includes(res.status), String(res.status));
    assert.equal(reached(), before);
  });

  it("still proxies a normal bypass path", async () => {
    const res = await gw.https("/public/x", { headers: SCRIPT });
    assert.equal(res.status, 200);
    assert.equal(upstream.received.at(-1)!.url, "/public/x");
  });

  it("forwards an encoded slash as it was sent once the rule it meets is satisfied", async () => {
    const admin = await login(gw, "admin", "admin-password-1");
    const res = await gw.https("/admin%2Fx/../y", { headers: { ...BROWSER, cookie: admin.cookie } });
    assert.equal(res.status, 200);
    assert.equal(upstream.received.at(-1)!.url, "/admin/y");
    const kept = await gw.https("/admin%2fx", { headers: { ...BROWSER, cookie: admin.cookie } });
    assert.equal(kept.status, 200);
    assert.equal(upstream.received.at(-1)!.url, "/admin%2fx");
  });
});

describe("access.caseInsensitivePaths at the gateway", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      { upstream: { url: upstream.url }, access: { defaultPolicy: "bypass", caseInsensitivePaths: true, rules: RULES } },
      { clock: new ManualClock() },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("applies the admin and deny rules to any case of their paths", async () => {
    const before = upstream.received.length;
    for (const path of ["/ADMIN/x", "/Admin/x", "/%41dmin/x", "/INTERNAL/x", "/Internal;x/y"]) {
      const res = await gw.https(path, { headers: SCRIPT });
      assert.ok(REFUSALS.includes(res.status), `${path}: ${res.status}`);
    }
    assert.equal(upstream.received.length, before);
    assert.equal((await gw.https("/Public/x", { headers: SCRIPT })).status, 200);
  });
});
