/** Case-insensitive paths fold as Java's equalsIgnoreCase does, so no letter steps around a rule. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validate } from "../../src/config/load.js";
import { underPrefix } from "../../src/admin/gateway-paths.js";
import { foldCase } from "../../src/pipeline/case-fold.js";
import { normaliseTarget } from "../../src/pipeline/path.js";
import { compileRules } from "../../src/policy/access-rules.js";

const rules = (caseInsensitivePaths: boolean) =>
  compileRules(
    validate({ access: { caseInsensitivePaths, defaultPolicy: "bypass", rules: [{ paths: ["/admin/**"], policy: "admin" }, { paths: ["/internal/**"], policy: "deny" }, { paths: ["/reports/**"], methods: ["DELETE"], policy: "admin" }] } }, {}).access,
  );

describe("case folding for case-insensitive upstreams", () => {
  it("folds the four letters Java equates with ASCII ones, and lower-cases the rest", () => {
    assert.equal(foldCase("/ADM\u0131N/x"), "/admin/x");
    assert.equal(foldCase("/ADM\u0130N/x"), "/admin/x");
    assert.equal(foldCase("/report\u017f/1"), "/reports/1");
    assert.equal(foldCase("/\u212Aey"), "/key");
    assert.equal(foldCase("/Caf\u00c9"), "/caf\u00e9");
    assert.equal(foldCase("/plain"), "/plain");
  });

  it("makes /adm%C4%B1n/x, /adm%C4%B0n/x, /%C4%B1nternal/x and DELETE /report%C5%BF/1 meet their rules when paths ignore case", () => {
    const on = rules(true);
    const decide = (target: string, method = "GET") => {
      const t = normaliseTarget(target);
      return on.decide(t.path, t.otherReadings, method, "10.0.0.1").policy;
    };
    assert.equal(decide("/adm%C4%B1n/x"), "admin");
    assert.equal(decide("/adm%C4%B0n/x"), "admin");
    assert.equal(decide("/%C4%B1nternal/x"), "deny");
    assert.equal(decide("/report%C5%BF/1", "DELETE"), "admin");
    assert.equal(decide("/ADMIN/x"), "admin");
  });

  it("leaves those letters alone when paths are case-sensitive", () => {
    const t = normaliseTarget("/adm%C4%B1n/x");
    assert.equal(rules(false).decide(t.path, t.otherReadings, "GET", "10.0.0.1").policy, "bypass");
  });

  it("puts a path under a prefix by the same folding when paths ignore case", () => {
    assert.equal(underPrefix({ path: "/gatew\u0131y/x" }, "/gateway", true), false, "ı in place of a is another word");
    assert.equal(underPrefix({ path: "/GATEWAY/x" }, "/gateway", true), true);
    assert.equal(underPrefix({ path: "/\u0131nternal" }, "/internal", true), true);
    assert.equal(underPrefix({ path: "/\u0131nternal" }, "/internal", false), false);
  });
});
