import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { request, startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";

describe("the admin listener", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("serves Prometheus metrics that count proxied requests by route and status class", async () => {
    await gw.https("/counted");
    await gw.https("/gateway/nope");
    const res = await request(http, gw.adminPort, "/metrics");
    assert.equal(res.status, 200);
    assert.match(res.headers["content-type"] ?? "", /text\/plain/);
    assert.match(res.body, /portcullis_requests_total\{route="proxy",status="2xx"\} [1-9]/);
    assert.match(res.body, /portcullis_requests_total\{route="gateway:not-found",status="4xx"\} 1/);
    assert.match(res.body, /portcullis_request_duration_seconds_bucket/);
  });

  it("reports ready while the upstream accepts connections", async () => {
    const res = await request(http, gw.adminPort, "/readyz");
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { ready: true, checks: { upstream: { ok: true }, store: { ok: true } } });
  });

  it("reports not ready (503) with the reason when the upstream is down, and counts the 502s", async () => {
    const down = await startTestUpstream();
    const port = down.port;
    await down.close();
    const gw2 = await startTestGateway({ upstream: { url: `http://127.0.0.1:${port}` } });
    try {
      assert.equal((await gw2.https("/x")).status, 502);
      const ready = await request(http, gw2.adminPort, "/readyz");
      assert.equal(ready.status, 503);
      const body = ready.json<{ ready: boolean; checks: { upstream: { ok: boolean; detail: string } } }>();
      assert.equal(body.ready, false);
      assert.equal(body.checks.upstream.detail, "ECONNREFUSED");
      const metrics = await request(http, gw2.adminPort, "/metrics");
      assert.match(metrics.body, /portcullis_upstream_errors_total\{kind="unreachable"\} 1/);
    } finally {
      await gw2.close();
    }
  });

  it("listens on the loopback address by default and refuses other methods", async () => {
    const res = await request(http, gw.adminPort, "/metrics", { method: "POST" });
    assert.equal(res.status, 405);
    assert.equal(gw.gateway.config.ports.admin.host, "127.0.0.1");
  });
});
