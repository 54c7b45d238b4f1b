import assert from "node:assert/strict";
import type http from "node:http";
import { describe, it } from "node:test";
import type { ListenerKind, RequestScope } from "../../src/pipeline/scope.js";
import { runStages, type Exchange } from "../../src/pipeline/stage.js";
import { forwardedHeaders, setForwarded, stripClient, stripClientHeaders } from "../../src/proxy/forwarded.js";

/** The headers that would leave the gateway: removed ones are left undefined, not deleted. */
function sent(headers: http.IncomingHttpHeaders): http.IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined));
}

function exchange(headers: http.IncomingHttpHeaders, over: Partial<RequestScope> = {}): Exchange {
  const scope = { id: "rid-1", listener: "secure", clientIp: "1.1.1.1", forwardedFor: "1.1.1.1", forwardPath: "/app", query: "", ...over } as RequestScope;
  const req = { headers, url: "/ignored" } as unknown as http.IncomingMessage;
  return { req, res: {} as http.ServerResponse, scope };
}

const PORTS: Record<ListenerKind, number> = { secure: 8443, insecure: 8080 };

describe("stripClient", () => {
  it("treats a request as no upgrade unless told, removing Connection and Upgrade", () => {
    const headers: http.IncomingHttpHeaders = { connection: "Upgrade", upgrade: "websocket", host: "h" };
    stripClient(headers, []);
    assert.deepEqual(sent(headers), { host: "h" });
  });
});

describe("stripClientHeaders", () => {
  it("is a stage named stripClientHeaders that lets the request go on", () => {
    const stage = stripClientHeaders([]);
    assert.equal(stage.name, "stripClientHeaders");
    assert.equal(stage.run(exchange({ host: "h" })), undefined);
  });

  it("removes the identity headers whatever case their names were configured in", () => {
    const x = exchange({ "x-remote-user": "admin", "x-portcullis-assertion": "forged", host: "h" });
    stripClientHeaders(["X-Remote-User", "X-PORTCULLIS-ASSERTION"]).run(x);
    assert.deepEqual(sent(x.req.headers), { host: "h" });
  });

  it("removes hop-by-hop and forwarding headers a client sent", () => {
    const x = exchange({ connection: "Upgrade, x-a", upgrade: "websocket", "x-a": "1", "x-forwarded-for": "6.6.6.6", "x-real-ip": "6.6.6.6", host: "h" });
    stripClientHeaders([]).run(x);
    assert.deepEqual(sent(x.req.headers), { host: "h" });
  });

  it("keeps the WebSocket handshake headers only in the upgrade variant", () => {
    const x = exchange({ connection: "Upgrade", upgrade: "websocket", "x-remote-user": "admin", host: "h" });
    stripClientHeaders(["x-remote-user"], true).run(x);
    assert.deepEqual(sent(x.req.headers), { connection: "Upgrade", upgrade: "websocket", host: "h" });
  });
});

describe("forwardedHeaders", () => {
  it("is a stage named forwardedHeaders that lets the request go on", () => {
    const stage = forwardedHeaders((kind) => PORTS[kind]);
    assert.equal(stage.name, "forwardedHeaders");
    assert.equal(stage.run(exchange({ host: "h" })), undefined);
  });

  it("writes the port of the listener the request came in on", () => {
    const secure = exchange({ host: "h" }, { listener: "secure" });
    const insecure = exchange({ host: "h" }, { listener: "insecure" });
    const stage = forwardedHeaders((kind) => PORTS[kind]);
    stage.run(secure);
    stage.run(insecure);
    assert.equal(secure.req.headers["x-forwarded-port"], "8443");
    assert.equal(secure.req.headers["x-forwarded-proto"], "https");
    assert.equal(insecure.req.headers["x-forwarded-port"], "8080");
    assert.equal(insecure.req.headers["x-forwarded-proto"], "http");
  });

  it("writes the scope's forwarding values and the rewritten URL", () => {
    const x = exchange({ host: "example.test" }, { id: "rid-9", forwardedFor: "1.1.1.1, 10.0.0.1", forwardPath: "/a/b", query: "?q=1" });
    forwardedHeaders((kind) => PORTS[kind]).run(x);
    assert.deepEqual(x.req.headers, {
      host: "example.test",
      "x-forwarded-for": "1.1.1.1, 10.0.0.1",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "example.test",
      "x-forwarded-port": "8443",
      "x-request-id": "rid-9",
    });
    assert.equal(x.req.url, "/a/b?q=1");
  });

  it("writes no X-Forwarded-Host at all for a request without a Host", () => {
    const x = exchange({});
    forwardedHeaders((kind) => PORTS[kind]).run(x);
    assert.equal("x-forwarded-host" in x.req.headers, false);
    assert.equal(x.req.headers["x-forwarded-port"], "8443");
  });
});

describe("the two steps in a pipeline", () => {
  it("replace whatever forwarding and identity headers the client sent with the gateway's own", async () => {
    const x = exchange(
      { host: "example.test", "x-forwarded-for": "6.6.6.6", "x-forwarded-host": "evil.test", "x-forwarded-proto": "http", "x-request-id": "chosen", "x-remote-user": "admin", accept: "*/*" },
      { listener: "insecure", forwardedFor: "1.1.1.1" },
    );
    const result = await runStages([stripClientHeaders(["x-remote-user"]), forwardedHeaders((kind) => PORTS[kind])], x);
    assert.equal(result, undefined);
    assert.deepEqual(sent(x.req.headers), {
      host: "example.test",
      accept: "*/*",
      "x-forwarded-for": "1.1.1.1",
      "x-forwarded-proto": "http",
      "x-forwarded-host": "example.test",
      "x-forwarded-port": "8080",
      "x-request-id": "rid-1",
    });
  });

  it("write the same values as setForwarded, which WebSocket upgrades call directly", () => {
    const direct = exchange({ host: "h" });
    const staged = exchange({ host: "h" });
    setForwarded(direct.req, direct.scope, 8443);
    forwardedHeaders((kind) => PORTS[kind]).run(staged);
    assert.deepEqual(staged.req.headers, direct.req.headers);
    assert.equal(staged.req.url, direct.req.url);
  });
});
