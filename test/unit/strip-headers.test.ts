import assert from "node:assert/strict";
import type http from "node:http";
import { describe, it } from "node:test";
import { setForwarded, stripClient } from "../../src/proxy/forwarded.js";
import { compactHeaders, dropHeader, stripClientClaims, stripHopByHop } from "../../src/proxy/strip-headers.js";
import type { RequestScope } from "../../src/pipeline/scope.js";

/** The headers that would leave the gateway: removed ones are left undefined (dropHeader), not deleted. */
function sent<T extends object>(headers: T): Partial<T> {
  return Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Partial<T>;
}

describe("dropHeader and compactHeaders", () => {
  it("leaves a removed header undefined, and compacting deletes exactly those", () => {
    const headers: http.IncomingHttpHeaders = { host: "h", cookie: "a=b", accept: "*/*" };
    dropHeader(headers, "cookie");
    dropHeader(headers, "absent");
    assert.deepEqual(Object.keys(headers), ["host", "cookie", "accept"]);
    assert.equal(headers.cookie, undefined);
    compactHeaders(headers);
    assert.deepEqual(headers, { host: "h", accept: "*/*" });
  });
});

describe("stripHopByHop", () => {
  it("removes every hop-by-hop header and keeps end-to-end ones and transfer-encoding", () => {
    const headers: http.IncomingHttpHeaders = {
      connection: "keep-alive",
      "keep-alive": "timeout=5",
      "proxy-connection": "keep-alive",
      "proxy-authorization": "Basic eDp5",
      "proxy-authenticate": "Basic",
      te: "trailers",
      trailer: "x-checksum",
      upgrade: "h2c",
      "transfer-encoding": "chunked",
      host: "example.test",
      accept: "*/*",
      cookie: "a=b",
    };
    stripHopByHop(headers);
    assert.deepEqual(sent(headers), { "transfer-encoding": "chunked", host: "example.test", accept: "*/*", cookie: "a=b" });
  });

  it("removes the headers named in Connection, case-insensitively", () => {
    const headers: http.IncomingHttpHeaders = { connection: "close, X-Secret , x-other", "x-secret": "s", "x-other": "o", "x-kept": "k" };
    stripHopByHop(headers);
    assert.deepEqual(sent(headers), { "x-kept": "k" });
  });

  it("removes a header named alone in Connection", () => {
    const headers: http.IncomingHttpHeaders = { connection: "x-secret", "x-secret": "s", host: "h" };
    stripHopByHop(headers);
    assert.deepEqual(sent(headers), { host: "h" });
  });

  it("never lets Connection remove the message framing headers (transfer-encoding, content-length)", () => {
    const chunked: http.IncomingHttpHeaders = { connection: "transfer-encoding", "transfer-encoding": "chunked", host: "h" };
    stripHopByHop(chunked);
    assert.deepEqual(sent(chunked), { "transfer-encoding": "chunked", host: "h" });
    const sized: http.IncomingHttpHeaders = { connection: "content-length", "content-length": "5", host: "h" };
    stripHopByHop(sized);
    assert.deepEqual(sent(sized), { "content-length": "5", host: "h" });
  });

  it("keeps connection and upgrade for a WebSocket upgrade and still removes the rest", () => {
    const headers: http.IncomingHttpHeaders = {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      "keep-alive": "timeout=5",
      te: "trailers",
      "proxy-authorization": "Basic eDp5",
    };
    stripHopByHop(headers, true);
    assert.deepEqual(sent(headers), {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    });
  });

  it("removes other headers named in Connection during an upgrade", () => {
    const headers: http.IncomingHttpHeaders = { connection: "keep-alive, Upgrade, x-secret", upgrade: "websocket", "x-secret": "s" };
    stripHopByHop(headers, true);
    assert.deepEqual(sent(headers), { connection: "keep-alive, Upgrade, x-secret", upgrade: "websocket" });
  });

  it("removes connection and upgrade when the request is not an upgrade", () => {
    const headers: http.IncomingHttpHeaders = { connection: "Upgrade", upgrade: "websocket", host: "h" };
    stripHopByHop(headers);
    assert.deepEqual(sent(headers), { host: "h" });
  });

  it("works on outgoing (response) headers too", () => {
    const headers: http.OutgoingHttpHeaders = { connection: "close", "keep-alive": "timeout=5", "content-type": "text/plain", "content-length": 5 };
    stripHopByHop(headers);
    assert.deepEqual(sent(headers), { "content-type": "text/plain", "content-length": 5 });
  });
});

describe("stripClientClaims", () => {
  it("removes forwarding headers, expect and the identity header names", () => {
    const headers: http.IncomingHttpHeaders = {
      forwarded: "for=6.6.6.6",
      "x-forwarded-for": "6.6.6.6",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "evil.test",
      "x-forwarded-port": "443",
      "x-forwarded-prefix": "/p",
      "x-real-ip": "6.6.6.6",
      "x-request-id": "chosen-by-client",
      expect: "100-continue",
      "x-remote-user": "admin",
      "x-remote-groups": "admins",
      "x-remote-email": "a@b",
      "x-remote-provider": "local",
      "x-portcullis-assertion": "forged.jwt",
      host: "example.test",
      accept: "text/html",
      authorization: "Basic eDp5",
    };
    stripClientClaims(headers, ["x-remote-user", "x-remote-groups", "x-remote-email", "x-remote-provider", "x-portcullis-assertion"]);
    assert.deepEqual(sent(headers), { host: "example.test", accept: "text/html", authorization: "Basic eDp5" });
  });

  it("removes every X-Forwarded-* header a client sent, not only the ones the gateway writes", () => {
    const headers: http.IncomingHttpHeaders = {
      "x-forwarded-server": "evil",
      "x-forwarded-ssl": "on",
      "x-forwarded-scheme": "https",
      "x-forwarded-uri": "/admin",
      "x-forwarded-user": "admin",
      host: "h",
    };
    stripClientClaims(headers, []);
    assert.deepEqual(sent(headers), { host: "h" });
  });

  // Issue #15: an upstream framework honouring these ran a request as another method than the one
  // CSRF and the access rules judged (a cross-site GET as a DELETE).
  it("removes every method-override header, whatever its value", () => {
    for (const value of ["DELETE", "PUT", "patch", "GET", "", "DELETE, PUT"]) {
      const headers: http.IncomingHttpHeaders = { "x-http-method-override": value, "x-http-method": value, "x-method-override": value, host: "h", accept: "*/*" };
      stripClientClaims(headers, []);
      assert.deepEqual(sent(headers), { host: "h", accept: "*/*" }, JSON.stringify(value));
    }
  });

  it("removes the identity headers of Authelia and oauth2-proxy, which applications moved from them may still read", () => {
    const names = ["remote-user", "remote-groups", "remote-email", "remote-name", "x-auth-request-user", "x-auth-request-email", "x-auth-request-groups", "x-auth-request-preferred-username", "x-auth-request-access-token", "x-forwarded-user", "x-forwarded-email"];
    const headers: http.IncomingHttpHeaders = Object.fromEntries([...names.map((n) => [n, "admin"]), ["host", "h"]]);
    stripClientClaims(headers, []);
    assert.deepEqual(sent(headers), { host: "h" });
  });

  it("leaves identity-like headers that were not named alone", () => {
    const headers: http.IncomingHttpHeaders = { "x-remote-user": "admin", "x-custom-user": "bob" };
    stripClientClaims(headers, ["x-custom-user"]);
    assert.deepEqual(sent(headers), { "x-remote-user": "admin" });
  });
});

describe("stripClient", () => {
  it("strips hop-by-hop headers and client claims in one call", () => {
    const headers: http.IncomingHttpHeaders = { connection: "x-a", "x-a": "1", te: "trailers", "x-forwarded-for": "6.6.6.6", "x-remote-user": "admin", host: "h" };
    stripClient(headers, ["x-remote-user"]);
    assert.deepEqual(sent(headers), { host: "h" });
  });

  it("keeps the handshake headers of an upgrade", () => {
    const headers: http.IncomingHttpHeaders = { connection: "Upgrade", upgrade: "websocket", "x-real-ip": "1.1.1.1", host: "h" };
    stripClient(headers, [], true);
    assert.deepEqual(sent(headers), { connection: "Upgrade", upgrade: "websocket", host: "h" });
  });

  it("removes method-override headers from upgrades too", () => {
    const headers: http.IncomingHttpHeaders = { connection: "Upgrade", upgrade: "websocket", "x-http-method-override": "DELETE", "x-http-method": "PUT", "x-method-override": "PATCH", host: "h" };
    stripClient(headers, [], true);
    assert.deepEqual(sent(headers), { connection: "Upgrade", upgrade: "websocket", host: "h" });
  });
});

describe("setForwarded", () => {
  const scope = (over: Partial<RequestScope>): RequestScope =>
    ({ id: "rid-1", listener: "secure", forwardedFor: "1.1.1.1", forwardPath: "/", query: "", ...over }) as RequestScope;

  it("writes the forwarding headers and the request id for a TLS request and rewrites the URL", () => {
    const req = { headers: { host: "example.test:4064", accept: "*/*" }, url: "/a/../%61dmin?x=1" } as unknown as http.IncomingMessage;
    setForwarded(req, scope({ forwardedFor: "1.1.1.1, 10.0.0.1", forwardPath: "/%61dmin", query: "?x=1" }), 4064);
    assert.deepEqual(req.headers, {
      host: "example.test:4064",
      accept: "*/*",
      "x-forwarded-for": "1.1.1.1, 10.0.0.1",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "example.test:4064",
      "x-forwarded-port": "4064",
      "x-request-id": "rid-1",
    });
    assert.equal(req.url, "/%61dmin?x=1");
  });

  it("says http for the insecure listener and leaves x-forwarded-host out without a Host", () => {
    const req = { headers: {}, url: "//a/b/" } as unknown as http.IncomingMessage;
    setForwarded(req, scope({ id: "rid-2", listener: "insecure", forwardPath: "/a/b/" }), 4063);
    assert.deepEqual(req.headers, {
      "x-forwarded-for": "1.1.1.1",
      "x-forwarded-proto": "http",
      "x-forwarded-port": "4063",
      "x-request-id": "rid-2",
    });
    assert.equal(req.url, "/a/b/");
  });

  it("overwrites forwarding values a client managed to leave behind", () => {
    const req = { headers: { host: "h", "x-forwarded-for": "6.6.6.6", "x-forwarded-proto": "http", "x-request-id": "spoof" }, url: "/" } as unknown as http.IncomingMessage;
    setForwarded(req, scope({}), 443);
    assert.equal(req.headers["x-forwarded-for"], "1.1.1.1");
    assert.equal(req.headers["x-forwarded-proto"], "https");
    assert.equal(req.headers["x-request-id"], "rid-1");
    assert.equal(req.headers["x-forwarded-port"], "443");
  });
});

// Every name is pinned on its own: a request carrying only that header (and Host) leaves with Host
// alone, so dropping one name from a list fails here even when the other names of the list are absent.
describe("stripClientClaims, one header at a time", () => {
  const IDENTITY = ["x-remote-user", "x-remote-groups", "x-portcullis-assertion"];
  const removed: [string, string[]][] = [
    ["a forwarding header only the gateway writes", ["forwarded", "x-real-ip", "x-request-id"]],
    // IIS URL Rewrite and Symfony read these as the path the client asked for, past the access rules.
    ["a header that rewrites the URL an upstream routes on", ["x-original-url", "x-rewrite-url"]],
    ["an X-Forwarded-* header", ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-forwarded-prefix", "x-forwarded-anything"]],
    ["a method override", ["x-http-method-override", "x-http-method", "x-method-override"]],
    ["a name with an underscore, which CGI reads as a dash", ["x_remote_user", "x-remote_user", "remote_user", "_", "x_forwarded_for", "x_http_method_override"]],
    ["a name with a dot, which some frameworks fold like a dash", ["x.remote.user", "x-remote.user", "remote.user", ".", "x.forwarded.for"]],
    ["a configured identity header", IDENTITY],
    ["expect, which Node has already answered", ["expect"]],
  ];
  for (const [what, names] of removed) {
    for (const name of names) {
      it(`removes ${name}: ${what}`, () => {
        const headers: http.IncomingHttpHeaders = { host: "h", [name]: "claimed" };
        stripClientClaims(headers, IDENTITY);
        assert.deepEqual(sent(headers), { host: "h" });
      });
    }
  }

  it("keeps ordinary end-to-end headers, dashes and all", () => {
    const headers: http.IncomingHttpHeaders = {
      host: "h",
      accept: "*/*",
      "accept-language": "en",
      "content-type": "text/plain",
      "content-length": "5",
      "transfer-encoding": "chunked",
      cookie: "a=b",
      authorization: "Basic eDp5",
      "x-csrf-token": "t",
      "x-forwarded": "not a prefix match",
      "x-requested-with": "XMLHttpRequest",
      "x-remote-user-agent": "not an identity name",
    };
    const before = { ...headers };
    stripClientClaims(headers, IDENTITY);
    assert.deepEqual(sent(headers), before);
  });
});

describe("stripHopByHop, one header at a time", () => {
  for (const name of ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"]) {
    it(`removes ${name}`, () => {
      const headers: http.IncomingHttpHeaders = { host: "h", [name]: name === "connection" ? "x-none" : "v" };
      stripHopByHop(headers);
      assert.deepEqual(sent(headers), { host: "h" });
    });
  }

  for (const name of ["keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer"]) {
    it(`removes ${name} from an upgrade too`, () => {
      const headers: http.IncomingHttpHeaders = { connection: "Upgrade", upgrade: "websocket", [name]: "v" };
      stripHopByHop(headers, true);
      assert.deepEqual(sent(headers), { connection: "Upgrade", upgrade: "websocket" });
    });
  }

  it("never lets Connection remove Host, whatever the case and the company", () => {
    for (const connection of ["host", "Host", "close, HOST", "x-a, host, content-length, transfer-encoding"]) {
      const headers: http.IncomingHttpHeaders = { connection, host: "example.test", "content-length": "5", "transfer-encoding": "chunked" };
      stripHopByHop(headers);
      assert.deepEqual(sent(headers), { host: "example.test", "content-length": "5", "transfer-encoding": "chunked" }, connection);
    }
  });

  it("lets Connection remove upgrade when the request is not an upgrade, and keeps it for one that is", () => {
    const plain: http.IncomingHttpHeaders = { connection: "x-a, upgrade", upgrade: "h2c", "x-a": "1", host: "h" };
    stripHopByHop(plain);
    assert.deepEqual(sent(plain), { host: "h" });
    const upgrade: http.IncomingHttpHeaders = { connection: "x-a, upgrade", upgrade: "websocket", "x-a": "1", host: "h" };
    stripHopByHop(upgrade, true);
    assert.deepEqual(sent(upgrade), { connection: "x-a, upgrade", upgrade: "websocket", host: "h" });
  });

  it("skips empty tokens in Connection", () => {
    const headers: http.IncomingHttpHeaders = { connection: " , x-a,, ", "x-a": "1", host: "h" };
    stripHopByHop(headers);
    assert.deepEqual(sent(headers), { host: "h" });
  });

  it("removes a Close header that Connection: close names, in whichever case the option is spelt (RFC 9110 §7.6.1)", () => {
    for (const option of ["close", "Close", "CLOSE", "close, x-a"]) {
      const headers: http.IncomingHttpHeaders = { connection: option, close: "x", host: "h" };
      stripHopByHop(headers);
      assert.deepEqual(sent(headers), { host: "h" }, option);
    }
  });
});
