/** `workers: 2`: one `serve` process runs a Node cluster on Redis; requests are spread over its workers. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { makePki, type TestPki } from "../helpers/certs.js";
import { startProcessGateway, type ProcessGateway } from "../helpers/process-gateway.js";
import { startTestRedis, type TestRedis } from "../helpers/redis.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";

describe("a gateway with two workers", { timeout: 60_000 }, () => {
  let redis: TestRedis;
  let upstream: TestUpstream;
  let pki: TestPki;
  let gw: ProcessGateway;
  before(async () => {
    redis = await startTestRedis();
    upstream = await startTestUpstream();
    pki = makePki();
    gw = await startProcessGateway({
      name: "cluster",
      pki,
      settings: { workers: 2, upstream: { url: upstream.url }, store: { redis: redis.url }, access: { defaultPolicy: "authenticated" } },
      adminPassword: "cluster-admin-1",
    });
  });
  after(async () => {
    await gw?.stop();
    await upstream.close();
    await redis.cleanup();
    pki.cleanup();
  });

  it("starts two workers that each listen, and one first-run account", async () => {
    const listening = await gw.waitForLog(() => gw.logs().filter((l) => l.msg === "portcullis listening").length >= 2, 15_000);
    assert.ok(listening, "two workers did not both report listening");
    const pids = new Set(gw.logs().filter((l) => l.msg === "portcullis listening").map((l) => l.pid));
    assert.equal(pids.size, 2);
    assert.equal(gw.logs().filter((l) => l.event === "account.created").length, 1);
  });

  it("serves a session made by one worker on the other", async () => {
    const login = await gw.https("/gateway/login", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ username: "admin", password: "cluster-admin-1" }),
    });
    assert.equal(login.status, 200, login.body);
    const cookie = String(login.headers["set-cookie"]).split(";")[0]!;
    // Fresh connections are spread over the workers by the cluster; every one must accept the session.
    for (let i = 0; i < 8; i++) {
      const res = await gw.https(`/app/${i}`, { headers: { cookie }, agent: false });
      assert.equal(res.status, 200);
      assert.equal(res.json<{ headers: Record<string, string> }>().headers["x-remote-user"], "admin");
    }
    // Access lines are written in batches: wait (bounded) until all eight have arrived.
    const served = () => gw.logs().filter((l) => l.msg === "request" && String(l.path).startsWith("/app/"));
    await gw.waitForLog(() => served().length >= 8, 5_000);
    // Node's cluster hands connections out round-robin: both workers took some.
    assert.equal(new Set(served().map((l) => l.pid)).size, 2);
  });

  it("stops all workers on SIGTERM and exits 0", async () => {
    const ended = await gw.stop(10_000);
    assert.equal(ended.code, 0);
    assert.equal(ended.killed, false);
  });
});
