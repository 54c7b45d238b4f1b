import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GatewayError } from "../../src/errors.js";
import { normaliseTarget } from "../../src/pipeline/path.js";

function assertBadPath(rawUrl: string): void {
  assert.throws(
    () => normaliseTarget(rawUrl),
    (err: unknown) => {
      assert.ok(err instanceof GatewayError, `expected a GatewayError for ${JSON.stringify(rawUrl)}`);
      assert.equal(err.code, "ERR_BAD_PATH");
      assert.equal(err.status, 400);
      return true;
    },
    `expected ${JSON.stringify(rawUrl)} to be refused`,
  );
}

describe("normaliseTarget", () => {
  it("leaves a plain path as it is", () => {
    assert.deepEqual(normaliseTarget("/a/b"), { path: "/a/b", forwardPath: "/a/b", query: "" });
  });

  it("reads a plain path (the shortcut) exactly as the full normalisation does", () => {
    // "/x/.." in front sends the same path through the segment-by-segment reading.
    const plain = ["/", "/a", "/a/", "/a/b.c/d", "/.well-known/x", "/a/...", "/a/.b/..c", "/data/projects/P1/subjects/S~1", "/x/$&'()*+,=:@!-_"];
    for (const p of plain) {
      assert.deepEqual(normaliseTarget(`${p}?q=1`), normaliseTarget(`/x/..${p}?q=1`), p);
    }
    // Paths the shortcut must leave to the full reading.
    for (const [sent, path] of [["/a/./b", "/a/b"], ["/a/../b", "/b"], ["/a//b", "/a/b"], ["/a/..", "/"], ["/%61", "/a"]]) {
      assert.equal(normaliseTarget(sent!).path, path, sent);
    }
    assert.equal(normaliseTarget("/a;x=1/b").paramFreePath, "/a/b");
  });

  it("resolves a dot-dot segment so /admin/../admin/x meets /admin/**", () => {
    assert.deepEqual(normaliseTarget("/admin/../admin/x"), { path: "/admin/x", forwardPath: "/admin/x", query: "" });
  });

  it("drops single-dot segments", () => {
    assert.deepEqual(normaliseTarget("/a/./b"), { path: "/a/b", forwardPath: "/a/b", query: "" });
  });

  it("treats percent-encoded dots as dot segments, in either case", () => {
    assert.deepEqual(normaliseTarget("/a/%2e%2e/b"), { path: "/b", forwardPath: "/b", query: "" });
    assert.deepEqual(normaliseTarget("/a/%2E%2E/b"), { path: "/b", forwardPath: "/b", query: "" });
    assert.deepEqual(normaliseTarget("/a/.%2e/b"), { path: "/b", forwardPath: "/b", query: "" });
    assert.deepEqual(normaliseTarget("/a/%2E/b"), { path: "/a/b", forwardPath: "/a/b", query: "" });
  });

  it("never climbs above the root", () => {
    assert.deepEqual(normaliseTarget("/../../etc/passwd"), { path: "/etc/passwd", forwardPath: "/etc/passwd", query: "" });
    assert.deepEqual(normaliseTarget("/.."), { path: "/", forwardPath: "/", query: "" });
  });

  it("keeps the directory slash when the path ends in a dot segment", () => {
    assert.deepEqual(normaliseTarget("/a/b/.."), { path: "/a/", forwardPath: "/a/", query: "" });
    assert.deepEqual(normaliseTarget("/a/."), { path: "/a/", forwardPath: "/a/", query: "" });
  });

  it("merges repeated slashes so //admin/x meets /admin/**", () => {
    assert.deepEqual(normaliseTarget("//admin/x"), { path: "/admin/x", forwardPath: "/admin/x", query: "" });
    assert.deepEqual(normaliseTarget("/admin///x"), { path: "/admin/x", forwardPath: "/admin/x", query: "" });
  });

  it("decodes for matching but forwards the original encoding", () => {
    assert.deepEqual(normaliseTarget("/%61dmin/x"), { path: "/admin/x", forwardPath: "/%61dmin/x", query: "" });
    assert.deepEqual(normaliseTarget("/a%20b"), { path: "/a b", forwardPath: "/a%20b", query: "" });
  });

  it("does not decode twice", () => {
    assert.deepEqual(normaliseTarget("/%252e%252e/admin"), { path: "/%2e%2e/admin", forwardPath: "/%252e%252e/admin", query: "" });
  });

  it("refuses dot segments formed by an encoded slash (/public/..%2Fadmin/x, /admin%2F..%2Fpublic/x) with 400", () => {
    for (const target of ["/public/..%2Fadmin/x", "/public/..%2fadmin/x", "/public/%2e%2e%2fadmin/x", "/public/x/..%2F..%2Fadmin", "/admin%2F..%2Fpublic/x", "/a/.%2Fb"]) {
      assert.throws(() => normaliseTarget(target), (err: unknown) => err instanceof GatewayError && err.code === "ERR_BAD_PATH" && err.status === 400, target);
    }
    // An encoded slash without dot segments is decoded for matching and kept encoded for the upstream.
    assert.deepEqual(normaliseTarget("/admin%2Fx"), { path: "/admin/x", forwardPath: "/admin%2Fx", query: "" });
  });

  it("keeps a trailing slash", () => {
    assert.deepEqual(normaliseTarget("/a/b/"), { path: "/a/b/", forwardPath: "/a/b/", query: "" });
    assert.deepEqual(normaliseTarget("/"), { path: "/", forwardPath: "/", query: "" });
  });

  it("keeps the query, with its question mark, untouched", () => {
    assert.deepEqual(normaliseTarget("/a/../b?x=1&y=%2e%2e/"), { path: "/b", forwardPath: "/b", query: "?x=1&y=%2e%2e/" });
    assert.deepEqual(normaliseTarget("/a?b?c"), { path: "/a", forwardPath: "/a", query: "?b?c" });
    assert.deepEqual(normaliseTarget("/a?"), { path: "/a", forwardPath: "/a", query: "?" });
  });

  it("takes the path and query of an absolute-form target", () => {
    assert.deepEqual(normaliseTarget("http://host/p?q"), { path: "/p", forwardPath: "/p", query: "?q" });
    assert.deepEqual(normaliseTarget("https://host:8443/a/../b/"), { path: "/b/", forwardPath: "/b/", query: "" });
    assert.deepEqual(normaliseTarget("HTTP://Host/x"), { path: "/x", forwardPath: "/x", query: "" });
  });

  it("reads an absolute-form target without a path as the root", () => {
    assert.deepEqual(normaliseTarget("http://host"), { path: "/", forwardPath: "/", query: "" });
  });

  it("reads an absolute-form target with a query but no path as the root with that query", () => {
    assert.deepEqual(normaliseTarget("http://host?q=1"), { path: "/", forwardPath: "/", query: "?q=1" });
  });

  it("refuses a malformed percent escape with ERR_BAD_PATH (400)", () => {
    assertBadPath("/%zz");
    assertBadPath("/a/%");
    assertBadPath("/a/%4");
  });

  it("refuses percent escapes that are not valid UTF-8 (overlong slash %C0%AF)", () => {
    assertBadPath("/%C0%AF");
    assertBadPath("/%ff");
  });

  it("refuses encoded NUL and other control characters", () => {
    assertBadPath("/%00");
    assertBadPath("/a%0d%0ab");
    assertBadPath("/a%7f");
  });

  it("refuses targets that are not a path: asterisk-form, bare words, other schemes, fragments", () => {
    assertBadPath("*");
    assertBadPath("foo");
    assertBadPath("");
    assertBadPath("ftp://host/x");
    assertBadPath("/a#frag");
  });

  it("does not let a Tomcat path parameter (..;) hide a climb out of a bypass prefix", () => {
    // Tomcat (XNAT) reads "/public/..;/admin/x" as "/admin/x"; a rule engine must not see "/public/**".
    let path: string | null = null;
    try {
      path = normaliseTarget("/public/..;/admin/x").path;
    } catch (err) {
      assert.ok(err instanceof GatewayError && err.code === "ERR_BAD_PATH", String(err));
      return;
    }
    assert.equal(path, "/admin/x");
  });

  it("gives the Tomcat reading of a path with parameters (/admin;x=y/) beside the literal one", () => {
    // Tomcat reads "/admin;x=y/secret" as "/admin/secret"; rules must hold for both readings.
    const target = normaliseTarget("/admin;x=y/secret");
    assert.equal(target.path, "/admin;x=y/secret");
    assert.equal(target.paramFreePath, "/admin/secret");
    assert.equal(target.forwardPath, "/admin;x=y/secret");
    assert.equal(normaliseTarget("/plain/path").paramFreePath, undefined);
  });
});
