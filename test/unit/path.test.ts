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
    assert.deepEqual(normaliseTarget("/a;x=1/b").otherReadings, ["/a/b"]);
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

  it("refuses a double-encoded escape with 400, since an upstream that decodes twice would read another path", () => {
    // Decoded once, "/%252e%252e/admin" is "/%2e%2e/admin" to the rules but "/../admin" to such an upstream.
    for (const target of ["/%252e%252e/admin", "/public/%252e%252e/admin/x", "/%252fadmin/x", "/%252Finternal/x", "/a%255cb", "/%2561dmin/x", "/%2541DMIN/x", "/%25%32%66admin", "/%2525252f"]) {
      assertBadPath(target);
    }
  });

  it("keeps an encoded percent sign that no second decoding could turn into an escape", () => {
    assert.deepEqual(normaliseTarget("/100%25"), { path: "/100%", forwardPath: "/100%25", query: "" });
    assert.deepEqual(normaliseTarget("/a%25zz/b"), { path: "/a%zz/b", forwardPath: "/a%25zz/b", query: "" });
  });

  it("refuses dot segments formed by an encoded slash (/public/..%2Fadmin/x, /admin%2F..%2Fpublic/x) with 400", () => {
    for (const target of ["/public/..%2Fadmin/x", "/public/..%2fadmin/x", "/public/%2e%2e%2fadmin/x", "/public/x/..%2F..%2Fadmin", "/admin%2F..%2Fpublic/x", "/a/.%2Fb"]) {
      assert.throws(() => normaliseTarget(target), (err: unknown) => err instanceof GatewayError && err.code === "ERR_BAD_PATH" && err.status === 400, target);
    }
    // An encoded slash without dot segments is decoded for matching and kept encoded for the upstream.
    assert.deepEqual(normaliseTarget("/admin%2Fx"), { path: "/admin/x", forwardPath: "/admin%2Fx", query: "", otherReadings: ["/admin%2Fx"] });
  });

  it("refuses an encoded slash that makes an empty segment (/%2fadmin/x, /%2Finternal/x, /%2F%2Finternal/x) with 400", () => {
    // Decoded, these are "//admin/x": nginx merges the slashes and serves /admin/x, Express and Go
    // keep them; the rules saw neither "/admin/x" nor anything the upstream would serve (issue #15).
    for (const target of ["/%2fadmin/x", "/%2Fadmin/x", "/%2Finternal/x", "/%2F%2Finternal/x", "/%2f%2Finternal/x", "/admin%2F", "/a%2F%2Fb", "/public/%2F/admin", "/x/../%2Fadmin/x"]) {
      assertBadPath(target);
    }
  });

  it("splits a segment at an encoded slash in either case and forwards the slash as it was sent", () => {
    assert.deepEqual(normaliseTarget("/admin%2fx/y"), { path: "/admin/x/y", forwardPath: "/admin%2fx/y", query: "", otherReadings: ["/admin%2Fx/y"] });
    assert.deepEqual(normaliseTarget("/a%2Fb%2fc"), { path: "/a/b/c", forwardPath: "/a%2Fb%2fc", query: "", otherReadings: ["/a%2Fb%2Fc"] });
  });

  it("gives the reading of upstreams that keep an encoded slash inside a segment (/data/projects/a%2Fb is one project)", () => {
    const target = normaliseTarget("/data/projects/a%2Fb");
    assert.equal(target.path, "/data/projects/a/b");
    assert.deepEqual(target.otherReadings, ["/data/projects/a%2Fb"], "Tomcat's reading is path itself, and not repeated");
  });

  it("decodes before it resolves dot segments, so a dot-dot after an encoded slash removes one name", () => {
    // Decoded first, "/a%2Fb/../c" is "/a/b/../c", which is "/a/c" (nginx and Python serve that).
    assert.deepEqual(normaliseTarget("/a%2Fb/../c"), { path: "/a/c", forwardPath: "/a/c", query: "" });
    assert.deepEqual(normaliseTarget("/a%2Fb/%2E%2E/%2e%2E/c"), { path: "/c", forwardPath: "/c", query: "" });
    assert.deepEqual(normaliseTarget("/a%2Fb/."), { path: "/a/b/", forwardPath: "/a%2Fb/", query: "", otherReadings: ["/a%2Fb/"] });
  });

  it("resolves /x/%2e%2e/admin to /admin in any case of the escape", () => {
    for (const target of ["/x/%2e%2e/admin", "/x/%2E%2E/admin", "/x/%2e./admin", "/x/.%2E/admin"]) {
      assert.deepEqual(normaliseTarget(target), { path: "/admin", forwardPath: "/admin", query: "" }, target);
    }
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

  it("takes the path and query of an absolute-form target whose host is one character (http://h/x)", () => {
    assert.deepEqual(normaliseTarget("http://h/admin/x"), { path: "/admin/x", forwardPath: "/admin/x", query: "" });
    assert.deepEqual(normaliseTarget("http://h?q=1"), { path: "/", forwardPath: "/", query: "?q=1" });
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
    assert.equal(target.forwardPath, "/admin;x=y/secret");
    assert.equal(normaliseTarget("/plain/path").otherReadings, undefined);
    assert.deepEqual(target.otherReadings, ["/admin/secret"]);
  });

  it("merges the empty segment that dropping a parameter leaves, as Tomcat does (/;x/admin/y is /admin/y)", () => {
    for (const [sent, tomcat] of [["/;x/admin/y", "/admin/y"], ["/;/admin/y", "/admin/y"], ["/;x=1/;y/internal/z", "/internal/z"], ["/admin/;x", "/admin/"]]) {
      const target = normaliseTarget(sent!);
      assert.equal(target.path, sent, sent);
      assert.equal(target.forwardPath, sent, sent);
      assert.deepEqual(target.otherReadings, [tomcat], sent);
    }
  });

  it("drops a parameter up to the next real slash, encoded slashes included, as Tomcat does", () => {
    // Tomcat drops ";x%2Fadmin" before it decodes: "/secret;x%2Fpublic/f" is "/secret/f" to it.
    const target = normaliseTarget("/secret;x%2Fpublic/f");
    assert.equal(target.path, "/secret;x/public/f");
    assert.deepEqual([...(target.otherReadings ?? [])].sort(), ["/secret/f", "/secret;x%2Fpublic/f"]);
  });

  it("reads an encoded semicolon as part of the name, as Tomcat does", () => {
    assert.deepEqual(normaliseTarget("/admin%3Bx/y"), { path: "/admin;x/y", forwardPath: "/admin%3Bx/y", query: "" });
  });

  it("refuses a dot segment with a parameter however it is spelt (..;, %2e%2e;, .;x, .%3B, a%2F..;x)", () => {
    for (const target of ["/public/..;/admin/x", "/public/%2e%2e;/admin", "/public/%2E.;x=1/admin", "/public/.;x/admin", "/public/.%3B/admin", "/public/..%3bx/admin", "/public/a%2F..;x/admin"]) {
      assertBadPath(target);
    }
  });

  it("refuses a backslash, sent as it is or encoded (/admin\\x, /a%5cb), since some upstreams read it as a slash", () => {
    // WHATWG URL parsing (http-proxy-3 for upgrades) and IIS read "\\" as "/": "/public\\..\\admin" is "/admin" there.
    for (const target of ["/\\", "/admin\\x", "/public\\..\\admin/x", "/a%5cb", "/a%5Cb", "/public/..%5Cadmin"]) {
      assertBadPath(target);
    }
  });

  it("refuses an absolute-form target whose scheme only ends in http (xhttp://host/x)", () => {
    assertBadPath("xhttp://host/x");
    assertBadPath("git+https://host/admin");
  });

  it("refuses an absolute-form target with a fragment, as it refuses one in origin form", () => {
    assertBadPath("http://host/a#frag");
    assertBadPath("https://host/admin?x=1#frag");
  });

  it("refuses a dot segment made by an encoded slash even when a later dot-dot would remove it (/a%2F./../b)", () => {
    for (const target of ["/a%2F./../b", "/a%2F%2E/../b", "/a%2F../../b", "/public/x%2F%2e%2e/../admin"]) {
      assertBadPath(target);
    }
  });

  it("keeps a name that only ends in dots before a parameter (/v1.;jsessionid=A1), which is no dot segment", () => {
    assert.deepEqual(normaliseTarget("/reports/v1.;jsessionid=A1/x"), {
      path: "/reports/v1.;jsessionid=A1/x",
      forwardPath: "/reports/v1.;jsessionid=A1/x",
      query: "",
      otherReadings: ["/reports/v1./x"],
    });
    assert.deepEqual(normaliseTarget("/a..;x/b").otherReadings, ["/a../b"]);
  });

  it("keeps an encoded percent sign followed by a single hex digit (/%25dmin), which no second decoding turns into an escape", () => {
    assert.deepEqual(normaliseTarget("/%25dmin"), { path: "/%dmin", forwardPath: "/%25dmin", query: "" });
    assert.deepEqual(normaliseTarget("/50%25a/b"), { path: "/50%a/b", forwardPath: "/50%25a/b", query: "" });
  });

  it("gives Tomcat's reading with encodedSolidusHandling=passthrough: parameters dropped, %2F kept in the name", () => {
    const target = normaliseTarget("/data;jsessionid=1/projects/a%2Fb");
    assert.equal(target.path, "/data;jsessionid=1/projects/a/b");
    assert.deepEqual([...(target.otherReadings ?? [])].sort(), ["/data/projects/a%2Fb", "/data/projects/a/b", "/data;jsessionid=1/projects/a%2Fb"]);
  });
});
