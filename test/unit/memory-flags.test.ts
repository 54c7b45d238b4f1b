import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { applyMemoryFlags, flagName, MEMORY_FLAGS } from "../../src/ops/memory-flags.js";

// What the flags do to RSS is measured by `npm run bench` (gateway RSS), not here: V8's GC timing
// makes a heap-size assertion in a unit test flaky.
describe("applyMemoryFlags", () => {
  it("sets the heap growth factor, Liftoff-only WebAssembly and no pretenuring when the command line sets none of them", () => {
    const set: string[] = [];
    const all = ["--heap-growing-percent=50", "--liftoff-only", "--no-allocation-site-pretenuring"];
    assert.deepEqual(applyMemoryFlags(["--enable-source-maps"], (f) => set.push(f)), all);
    assert.deepEqual(set, all);
  });

  for (const [own, left] of [
    ["--heap-growing-percent=300", ["--liftoff-only", "--no-allocation-site-pretenuring"]],
    ["--heap_growing_percent=10", ["--liftoff-only", "--no-allocation-site-pretenuring"]],
    ["--no-liftoff-only", ["--heap-growing-percent=50", "--no-allocation-site-pretenuring"]],
    ["--allocation-site-pretenuring", ["--heap-growing-percent=50", "--liftoff-only"]],
  ] as const) {
    it(`leaves the operator's own ${own} alone`, () => {
      const set: string[] = [];
      assert.deepEqual(applyMemoryFlags([own], (f) => set.push(f)), left);
      assert.deepEqual(set, left);
    });
  }

  it("names flags this V8 knows (an unknown one would be ignored silently)", () => {
    const options = spawnSync(process.execPath, ["--v8-options"], { encoding: "utf8" }).stdout;
    for (const flag of MEMORY_FLAGS) assert.ok(options.includes(`  ${flagName(flag)} `), `${flag} not in node --v8-options`);
  });
});
