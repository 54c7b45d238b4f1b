import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";

describe("the gateway in front of an upstream", () => {
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

  it("proxies a request received over TLS to the upstream", async () => {
    const res = await gw.https("/hello?x=1");
    assert.equal(res.status, 200);
    assert.equal(res.json<{ url: string }>().url, "/hello?x=1");
    assert.equal(res.headers["strict-transport-security"], "max-age=31536000");
  });

  it("redirects a plaintext request to the same path on the TLS port", async () => {
    const res = await gw.http("/a/b?c=d", { headers: { host: "example.test:4063" } });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, `https://example.test:${gw.securePort}/a/b?c=d`);
  });
});
