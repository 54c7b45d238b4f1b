/** Absolute-form request targets (RFC 9112 §3.2.2) need a host, as RFC 9110 §4.2.1 says of http URIs. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { normaliseTarget } from "../../src/pipeline/path.js";

describe("absolute-form targets", () => {
  it("refuses an http or https URI with an empty host", () => {
    for (const target of ["http:///x", "https:///admin/x", "http://?q=1", "HTTP://", "http:///"]) {
      assert.throws(() => normaliseTarget(target), (err: unknown) => (err as { code?: string }).code === "ERR_BAD_PATH", target);
    }
  });

  it("keeps the path and query of one with a host", () => {
    assert.deepEqual(normaliseTarget("http://example.org/admin/x?a=1"), { path: "/admin/x", forwardPath: "/admin/x", query: "?a=1" });
    assert.equal(normaliseTarget("https://example.org").path, "/");
    assert.equal(normaliseTarget("http://example.org?q").query, "?q");
  });
});
