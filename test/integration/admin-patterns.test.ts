/** A running gateway whose admin wrote catastrophic patterns keeps answering (SPEC §2, ReDoS). */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";
import { login } from "../helpers/auth.js";

describe("admin-written patterns in a running gateway", { timeout: 60_000 }, () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({
      upstream: { url: upstream.url },
      access: { defaultPolicy: "authenticated" },
      site: { interactiveAgentIds: ["(a+)+$", "^(?=(a+)+$)a"], passwordComplexity: "^(?=.*\\d).{10,}$" },
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it("answers hostile User-Agents on a data path quickly and serves other requests meanwhile", async () => {
    const hostile = ["a".repeat(30) + "!", "a".repeat(10_000) + "!"];
    const started = performance.now();
    const attacks = Array.from({ length: 8 }, (_, i) => gw.https("/data/projects", { headers: { "user-agent": hostile[i % 2]!, accept: "*/*" } }));
    const health = await gw.https("/gateway/healthz");
    const healthMs = performance.now() - started;
    const answers = await Promise.all(attacks);
    const allMs = performance.now() - started;
    assert.equal(health.status, 200);
    for (const a of answers) assert.equal(a.status, 401, "neither pattern matches, so the client is a script");
    assert.ok(healthMs < 2_000, `a health check waited ${Math.round(healthMs)} ms behind the hostile requests`);
    assert.ok(allMs < 5_000, `eight hostile requests took ${Math.round(allMs)} ms`);
    assert.ok(gw.logs.lines.some((l) => l.msg === "an admin-written pattern ran over its time budget and was taken as no match" && l.pattern === "^(?=(a+)+$)a"));
  });

  it("refuses a pattern with a syntax error over the site-config API with 400 naming the key", async () => {
    const admin = await login(gw, "admin", "admin-password-1");
    for (const [key, value] of [["interactiveAgentIds", [".*Mozilla.*", "(*"]], ["ipsThatCanSendEmailsThroughRest", "["], ["passwordComplexity", "(?<=x"]] as const) {
      const res = await gw.https("/gateway/xapi/siteConfig", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", cookie: admin.cookie, "x-csrf-token": admin.csrfToken! },
        body: JSON.stringify({ [key]: value }),
      });
      assert.equal(res.status, 400, `${key}: ${res.body}`);
      assert.match(res.body, new RegExp(`site\\.${key}`));
    }
  });
});
