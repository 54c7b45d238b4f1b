/** Browser or script: the User-Agent test of SPEC §7, with its length bound. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validate } from "../../src/config/load.js";
import { compileSite } from "../../src/config/site.js";
import { isInteractive, MAX_AGENT_LENGTH } from "../../src/pipeline/client-kind.js";

const site = compileSite(validate({}, {}).site);
const req = (agent: string) => ({ "user-agent": agent, accept: "text/html" });

describe("browser or script", () => {
  it("takes a browser's User-Agent for a browser, up to the length bound", () => {
    const agent = "Mozilla/5.0 (X11; Linux x86_64) ";
    assert.equal(isInteractive(req(agent), site), true);
    assert.equal(isInteractive(req(agent.padEnd(MAX_AGENT_LENGTH, "x")), site), true);
  });

  it("takes a User-Agent longer than any browser's for a script, without running the patterns over it", () => {
    const agent = "Mozilla/5.0 ".padEnd(MAX_AGENT_LENGTH + 1, "x");
    assert.equal(isInteractive(req(agent), site), false);
  });

  it("takes an empty or unknown User-Agent for a script", () => {
    assert.equal(isInteractive(req(""), site), false);
    assert.equal(isInteractive(req("curl/8.5.0"), site), false);
  });
});
