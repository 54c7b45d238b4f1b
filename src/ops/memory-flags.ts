/**
 * V8 settings that keep the gateway's memory and garbage collection near what it needs, applied by
 * the CLI's first import (src/cli/v8-flags.ts), before any other module is evaluated. Measured in the
 * benchmark's proxy rows:
 *
 * - V8 lets the old generation reach up to four times what survived the last full collection when
 *   collections are cheap, and under proxy load they are: a live set of ~26 MB let the heap reach
 *   130 MB and the process 190–330 MB of RSS. A growth factor of 1.5 keeps it near 130 MB.
 * - undici parses HTTP/1.1 with llhttp compiled to WebAssembly. When the proxy gets busy, V8's
 *   optimising compiler recompiles llhttp's one very large function and takes ~30 MB for it at
 *   once, which set the process's peak. Its baseline compiler (Liftoff) alone avoids that.
 * - Allocation-site pretenuring is off. When most objects from one allocation site survive a young
 *   collection, V8 allocates that site's later objects straight into the old generation. In the
 *   gateway it tenured sites that request handling also uses; those short-lived old objects then
 *   pointed at each request's young ones (headers, Node's and undici's request objects), which
 *   every scavenge had to keep and promote: 1.8–2.0 MB promoted per scavenge instead of 0.08 MB,
 *   a mark-compact every 0.3–0.5 s instead of every few seconds, and 11–15% more CPU per proxied
 *   request in interleaved runs (`--trace-gc-nvp`). A bare proxy with the same Node server and
 *   undici pool did the same as soon as ~10 MB of other objects were kept alive beside it, so this
 *   is V8's heuristic meeting a larger heap, not one of the gateway's data structures.
 *
 * Interleaved runs showed no throughput or CPU-per-request cost within the machine's noise for
 * the first two, and a gain for the third (README "Benchmark"). A flag the operator gives on the
 * command line wins over ours.
 */
import v8 from "node:v8";

export const MEMORY_FLAGS = ["--heap-growing-percent=50", "--liftoff-only", "--no-allocation-site-pretenuring"] as const;

/** Applies MEMORY_FLAGS that the command line does not set itself; returns those applied. */
export function applyMemoryFlags(execArgv: readonly string[] = process.execArgv, setFlags: (flag: string) => void = v8.setFlagsFromString): string[] {
  const given = new Set(execArgv.map(flagName));
  const applied = MEMORY_FLAGS.filter((flag) => !given.has(flagName(flag)));
  for (const flag of applied) setFlags(flag);
  return applied;
}

/** `--heap_growing_percent=10` and `--no-liftoff-only` both name the flag of `--heap-growing-percent=50` / `--liftoff-only`. */
export function flagName(arg: string): string {
  return arg.replace(/=.*$/, "").replace(/_/g, "-").replace(/^--no-/, "--");
}
