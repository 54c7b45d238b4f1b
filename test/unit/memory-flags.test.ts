import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { applyMemoryFlags, MEMORY_FLAGS } from "../../src/ops/memory-flags.js";

// What the flags do to RSS is measured by `npm run bench` (gateway RSS), not here: V8's GC timing
// makes a heap-size assertion in a unit test flaky.
describe("applyMemoryFlags", () => {
  it("sets the heap growth factor and Liftoff-only WebAssembly when the command line sets neither", () => {
    const set: string[] = [];
    assert.deepEqual(applyMemoryFlags(["--enable-source-maps"], (f) => set.push(f)), ["--heap-growing-percent=50", "--liftoff-only"]);
    assert.deepEqual(set, ["--heap-growing-percent=50", "--liftoff-only"]);
  });

  for (const [own, left] of [
    ["--heap-growing-percent=300", "--liftoff-only"],
    ["--heap_growing_percent=10", "--liftoff-only"],
    ["--no-liftoff-only", "--heap-growing-percent=50"],
  ] as const) {
    it(`leaves the operator's own ${own} alone`, () => {
      const set: string[] = [];
      assert.deepEqual(applyMemoryFlags([own], (f) => set.push(f)), [left]);
      assert.deepEqual(set, [left]);
    });
  }

  it("names flags this V8 knows (an unknown one would be ignored silently)", () => {
    const options = spawnSync(process.execPath, ["--v8-options"], { encoding: "utf8" }).stdout;
    for (const flag of MEMORY_FLAGS) assert.ok(options.includes(`  ${flag.replace(/=.*$/, "")} `), `${flag} not in node --v8-options`);
  });
});
