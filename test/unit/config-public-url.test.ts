/**
 * `publicUrl` (not in SPEC §3): the https origin users reach the gateway at, used in mailed reset
 * links. Only scheme, host and port: anything else is a config error naming the key.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validate } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

/** The ConfigError that validating `raw` throws; fails when the config is accepted. */
function refusal(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    validate(raw, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected a ConfigError for ${JSON.stringify(raw)}, but the config was accepted`);
}

describe("validate: publicUrl", () => {
  it("is unset by default, and an empty value means unset (as for every optional key)", () => {
    assert.equal(validate({}, {}).publicUrl, undefined);
    assert.equal(validate({ publicUrl: "" }, {}).publicUrl, undefined);
  });

  for (const [given, kept] of [
    ["https://xnat.example.org", "https://xnat.example.org"],
    ["https://h:8443", "https://h:8443"],
    ["https://xnat.example.org/", "https://xnat.example.org"],
    ["https://XNAT.Example.ORG:8443", "https://xnat.example.org:8443"],
    ["https://[::1]:8443", "https://[::1]:8443"],
  ]) {
    it(`accepts ${given} and keeps the origin ${kept}`, () => {
      assert.equal(validate({ publicUrl: given }, {}).publicUrl, kept);
    });
  }

  it("takes its value from PORTCULLIS_PUBLICURL and from ${env:} like any key", () => {
    assert.equal(validate({}, { PORTCULLIS_PUBLICURL: "https://portal.example.org:8443" }).publicUrl, "https://portal.example.org:8443");
    assert.equal(validate({ publicUrl: "${env:PUBLIC_URL}" }, { PUBLIC_URL: "https://portal.example.org:8443" }).publicUrl, "https://portal.example.org:8443");
    assert.ok(refusal({}, { PORTCULLIS_PUBLICURL: "http://portal.example.org" }).issues.some((i) => i.path === "publicUrl"));
  });

  for (const bad of [
    "http://xnat.example.org",
    "http://h:8443",
    "https://h/path",
    "https://h/gateway/",
    "https://h/?q",
    "https://h?q=1",
    "https://h/#top",
    "https://user:secret@h",
    "ftp://h",
    "xnat.example.org",
    "not a url",
  ]) {
    it(`refuses ${JSON.stringify(bad)} with a message naming publicUrl`, () => {
      const err = refusal({ publicUrl: bad });
      const issue = err.issues.find((i) => i.path === "publicUrl");
      assert.ok(issue, `no issue at publicUrl: ${JSON.stringify(err.issues)}`);
      assert.ok(issue.message.length > 0);
      // What `config validate` and the start print: the key, then what is wrong.
      assert.match(err.message, /^publicUrl: /m);
    });
  }

  it("refuses a value that is not a string", () => {
    for (const bad of [8443, true, ["https://h"], { origin: "https://h" }]) {
      assert.ok(refusal({ publicUrl: bad }).issues.some((i) => i.path === "publicUrl"), JSON.stringify(bad));
    }
  });

  it("reports a bad publicUrl together with other problems in one run", () => {
    const { issues } = refusal({ publicUrl: "http://h", mail: { smtp: "http://mail.example.org" } });
    assert.ok(issues.some((i) => i.path === "publicUrl"));
    assert.ok(issues.some((i) => i.path === "mail.smtp"));
  });
});
