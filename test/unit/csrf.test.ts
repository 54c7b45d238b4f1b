import { ANONYMOUS, type Identity } from "../../src/auth/identity.js";
import type { SessionRecord } from "../../src/store/store.js";
import assert from "node:assert/strict";
import type http from "node:http";
import { describe, it } from "node:test";
import type { Site } from "../../src/config/site.js";
import { GatewayError } from "../../src/errors.js";
import type { RequestScope } from "../../src/pipeline/scope.js";
import type { Exchange } from "../../src/pipeline/stage.js";
import {
  CsrfRefusal,
  csrfRefused,
  csrfStage,
  isSameOrigin,
  ownOrigin,
  sentFromAnotherSite,
  tokenMatches,
  websocketOriginStage,
  type CsrfReason,
} from "../../src/policy/csrf.js";

type Credential = "session" | "basic" | "guest" | undefined;

const PRINCIPAL = { user: "ann", roles: ["user"], provider: "local" };

function identityOf(credential: Credential): Identity {
  if (credential === undefined) return ANONYMOUS;
  if (credential === "session") return { kind: "session", principal: PRINCIPAL, session: { csrfToken: "t" } as SessionRecord };
  return { kind: credential, principal: PRINCIPAL };
}

const HOST = "gateway.example.test:4443";
const OWN = `https://${HOST}`;
const FOREIGN = "https://evil.example";

function request(headers: http.IncomingHttpHeaders, method = "POST"): http.IncomingMessage {
  return { method, headers } as unknown as http.IncomingMessage;
}

function scopeOf(authVia: Credential, listener: RequestScope["listener"] = "secure"): RequestScope {
  return { listener, identity: identityOf(authVia), route: "proxy" } as RequestScope;
}

function exchange(req: http.IncomingMessage, scope: RequestScope): Exchange {
  return { req, res: {} as http.ServerResponse, scope };
}

/** Runs a stage and returns the refusal it threw, or undefined when it let the request through. */
function refusal(run: () => unknown): CsrfRefusal | undefined {
  try {
    assert.equal(run(), undefined, "a stage that lets a request through returns nothing");
  } catch (err) {
    if (err instanceof CsrfRefusal) return err;
    throw err;
  }
  return undefined;
}

describe("csrfRefused and CsrfRefusal", () => {
  it("is a GatewayError with code ERR_CSRF and status 403", () => {
    const err = csrfRefused("origin");
    assert.ok(err instanceof CsrfRefusal);
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, "ERR_CSRF");
    assert.equal(err.status, 403);
    assert.equal(err.name, "CsrfRefusal");
  });

  it("carries the reason it was given, and says token when given none", () => {
    for (const reason of ["origin", "token", "login", "websocket"] as CsrfReason[]) assert.equal(csrfRefused(reason).reason, reason);
    assert.equal(csrfRefused().reason, "token");
  });

  it("tells the client the same message whatever the reason, so a refusal does not say which check failed", () => {
    const messages = new Set((["origin", "token", "login", "websocket"] as CsrfReason[]).map((r) => csrfRefused(r).publicMessage));
    assert.equal(messages.size, 1);
    const [message] = messages;
    assert.match(message!, /refused/);
    assert.equal(csrfRefused().message, message);
  });
});

describe("ownOrigin", () => {
  it("uses https on the secure listener and http on the insecure one, with the Host header", () => {
    assert.equal(ownOrigin(request({ host: HOST }), scopeOf("session", "secure")), OWN);
    assert.equal(ownOrigin(request({ host: HOST }), scopeOf("session", "insecure")), `http://${HOST}`);
  });

  it("lower-cases the host, as browsers write it in Origin", () => {
    assert.equal(ownOrigin(request({ host: "Gateway.EXAMPLE.test:4443" }), scopeOf("session")), OWN);
  });

  it("leaves the host empty when the request has none", () => {
    assert.equal(ownOrigin(request({}), scopeOf("session")), "https://");
    assert.equal(ownOrigin(request({}), scopeOf("session", "insecure")), "http://");
  });
});

describe("isSameOrigin", () => {
  const same = (headers: http.IncomingHttpHeaders, listener: RequestScope["listener"] = "secure") =>
    isSameOrigin(request({ host: HOST, ...headers }), scopeOf("session", listener));

  it("believes Fetch Metadata: same-origin and none (typed or bookmarked) are ours, another site is not", () => {
    assert.equal(same({ "sec-fetch-site": "same-origin" }), true);
    assert.equal(same({ "sec-fetch-site": "none" }), true);
    assert.equal(same({ "sec-fetch-site": "same-site" }), false);
    assert.equal(same({ "sec-fetch-site": "cross-site" }), false);
    assert.equal(same({ "sec-fetch-site": "" }), false);
  });

  it("judges by Fetch Metadata alone when a browser sends it, whatever Origin says", () => {
    assert.equal(same({ "sec-fetch-site": "same-origin", origin: FOREIGN }), true);
    assert.equal(same({ "sec-fetch-site": "cross-site", origin: OWN }), false);
  });

  it("without Fetch Metadata, compares Origin with our own origin, ignoring case", () => {
    assert.equal(same({ origin: OWN }), true);
    assert.equal(same({ origin: "HTTPS://Gateway.Example.TEST:4443" }), true);
    assert.equal(same({ origin: FOREIGN }), false);
    assert.equal(same({ origin: "null" }), false);
    assert.equal(same({ origin: "" }), false);
  });

  it("refuses an Origin with the right host but the other listener's scheme or another port", () => {
    assert.equal(same({ origin: `http://${HOST}` }), false);
    assert.equal(same({ origin: OWN }, "insecure"), false);
    assert.equal(same({ origin: `http://${HOST}` }, "insecure"), true);
    assert.equal(same({ origin: "https://gateway.example.test" }), false);
  });

  it("takes a request with neither header as same-origin: modern browsers send Origin on every cross-site POST", () => {
    assert.equal(same({}), true);
  });
});

describe("sentFromAnotherSite", () => {
  it("is true only when Fetch Metadata says cross-site or same-site", () => {
    assert.equal(sentFromAnotherSite(request({ "sec-fetch-site": "cross-site" })), true);
    assert.equal(sentFromAnotherSite(request({ "sec-fetch-site": "same-site" })), true);
    assert.equal(sentFromAnotherSite(request({ "sec-fetch-site": "same-origin" })), false);
    assert.equal(sentFromAnotherSite(request({ "sec-fetch-site": "none" })), false);
    assert.equal(sentFromAnotherSite(request({})), false);
  });

  it("ignores Origin: a script may send one of its own", () => {
    assert.equal(sentFromAnotherSite(request({ origin: FOREIGN })), false);
  });
});

describe("tokenMatches", () => {
  const token = "tok-0123456789abcdef";

  it("accepts the same token", () => {
    assert.equal(tokenMatches(token, token), true);
  });

  it("refuses a missing token", () => {
    assert.equal(tokenMatches(token, undefined), false);
  });

  it("refuses a token of the same length that differs", () => {
    assert.equal(tokenMatches(token, `${token.slice(0, -1)}0`), false);
  });

  it("refuses a token of another length without throwing: a prefix, a longer one, an empty one", () => {
    assert.equal(tokenMatches(token, token.slice(0, -1)), false);
    assert.equal(tokenMatches(token, `${token}x`), false);
    assert.equal(tokenMatches(token, ""), false);
  });

  it("compares byte lengths, so a token with as many characters but more bytes is refused without throwing", () => {
    assert.equal(tokenMatches("aé", "ab"), false);
    assert.equal(tokenMatches("ab", "aé"), false);
  });
});

describe("csrfStage", () => {
  const enabled = csrfStage({ site: () => ({ enableCsrfToken: true }) as Site });
  const disabled = csrfStage({ site: () => ({ enableCsrfToken: false }) as Site });
  const crossSite = { host: HOST, "sec-fetch-site": "cross-site", origin: FOREIGN };

  it("is named csrf", () => {
    assert.equal(enabled.name, "csrf");
  });

  for (const method of ["POST", "PUT", "PATCH", "DELETE", "PROPFIND"]) {
    it(`refuses a cross-site ${method} carried by the session cookie, as a foreign origin`, () => {
      const scope = scopeOf("session");
      const err = refusal(() => enabled.run(exchange(request(crossSite, method), scope)));
      assert.equal(err?.reason, "origin");
      assert.equal(err?.code, "ERR_CSRF");
      assert.equal(scope.route, "csrf:refused");
    });
  }

  for (const method of ["GET", "HEAD", "OPTIONS", "TRACE"]) {
    it(`lets a cross-site ${method} through: it changes no state`, () => {
      const scope = scopeOf("session");
      assert.equal(refusal(() => enabled.run(exchange(request(crossSite, method), scope))), undefined);
      assert.equal(scope.route, "proxy");
    });
  }

  it("reads a request without a method as a GET", () => {
    const methodless = { headers: crossSite } as unknown as http.IncomingMessage;
    assert.equal(refusal(() => enabled.run(exchange(methodless, scopeOf("session")))), undefined);
  });

  it("refuses a session POST whose Origin is foreign when the browser sends no Fetch Metadata", () => {
    const err = refusal(() => enabled.run(exchange(request({ host: HOST, origin: FOREIGN }), scopeOf("session"))));
    assert.equal(err?.reason, "origin");
  });

  it("lets a session POST from our own origin through", () => {
    assert.equal(refusal(() => enabled.run(exchange(request({ host: HOST, "sec-fetch-site": "same-origin" }), scopeOf("session")))), undefined);
    assert.equal(refusal(() => enabled.run(exchange(request({ host: HOST, origin: OWN }), scopeOf("session")))), undefined);
  });

  it("refuses a Basic-authenticated POST that a browser marks cross-site or same-site", () => {
    for (const site of ["cross-site", "same-site"]) {
      const err = refusal(() => enabled.run(exchange(request({ host: HOST, "sec-fetch-site": site }), scopeOf("basic"))));
      assert.equal(err?.reason, "origin", site);
    }
  });

  it("lets a Basic-authenticated POST with a foreign Origin but no Fetch Metadata through: scripts send an Origin of their own", () => {
    assert.equal(refusal(() => enabled.run(exchange(request({ host: HOST, origin: FOREIGN }), scopeOf("basic")))), undefined);
  });

  it("never judges a request without a credential: anonymous or the guest", () => {
    assert.equal(refusal(() => enabled.run(exchange(request(crossSite), scopeOf(undefined)))), undefined);
    assert.equal(refusal(() => enabled.run(exchange(request(crossSite), scopeOf("guest")))), undefined);
  });

  it("lets everything through when enableCsrfToken is false", () => {
    assert.equal(refusal(() => disabled.run(exchange(request(crossSite), scopeOf("session")))), undefined);
    assert.equal(refusal(() => disabled.run(exchange(request(crossSite), scopeOf("basic")))), undefined);
  });

  it("reads enableCsrfToken on every request, so a site-config change applies at once", () => {
    let on = false;
    const stage = csrfStage({ site: () => ({ enableCsrfToken: on }) as Site });
    assert.equal(refusal(() => stage.run(exchange(request(crossSite), scopeOf("session")))), undefined);
    on = true;
    assert.equal(refusal(() => stage.run(exchange(request(crossSite), scopeOf("session"))))?.reason, "origin");
  });
});

describe("websocketOriginStage", () => {
  const stage = websocketOriginStage();
  const upgrade = (headers: http.IncomingHttpHeaders) => request({ host: HOST, upgrade: "websocket", connection: "Upgrade", ...headers }, "GET");

  it("is named websocketOrigin", () => {
    assert.equal(stage.name, "websocketOrigin");
  });

  it("refuses a cross-site handshake carried by the session cookie, although it is a GET", () => {
    for (const headers of [{ "sec-fetch-site": "cross-site" }, { "sec-fetch-site": "same-site" }, { origin: FOREIGN }]) {
      const scope = scopeOf("session");
      const err = refusal(() => stage.run(exchange(upgrade(headers), scope)));
      assert.equal(err?.reason, "websocket", JSON.stringify(headers));
      assert.equal(scope.route, "csrf:refused");
    }
  });

  it("refuses a cross-site handshake carried by Basic credentials the browser cached", () => {
    const err = refusal(() => stage.run(exchange(upgrade({ "sec-fetch-site": "cross-site" }), scopeOf("basic"))));
    assert.equal(err?.reason, "websocket");
  });

  it("lets a same-origin handshake through, and a script's handshake with Basic credentials and its own Origin", () => {
    const scope = scopeOf("session");
    assert.equal(refusal(() => stage.run(exchange(upgrade({ origin: OWN }), scope))), undefined);
    assert.equal(scope.route, "proxy");
    assert.equal(refusal(() => stage.run(exchange(upgrade({ origin: FOREIGN }), scopeOf("basic")))), undefined);
  });

  it("lets a handshake without a credential through, whatever its origin", () => {
    assert.equal(refusal(() => stage.run(exchange(upgrade({ "sec-fetch-site": "cross-site" }), scopeOf(undefined)))), undefined);
    assert.equal(refusal(() => stage.run(exchange(upgrade({ "sec-fetch-site": "cross-site" }), scopeOf("guest")))), undefined);
  });
});
