/**
 * V8 settings that keep the gateway's resident memory near what it uses, applied when `serve`
 * starts (before the first upstream connection). Measured in the benchmark's proxy rows:
 *
 * - V8 lets the old generation reach up to four times what survived the last full collection when
 *   collections are cheap, and under proxy load they are: a live set of ~26 MB let the heap reach
 *   130 MB and the process 190–330 MB of RSS. A growth factor of 1.5 keeps it near 130 MB.
 * - undici parses HTTP/1.1 with llhttp compiled to WebAssembly. When the proxy gets busy, V8's
 *   optimising compiler recompiles llhttp's one very large function and takes ~30 MB for it at
 *   once, which set the process's peak. Its baseline compiler (Liftoff) alone avoids that.
 *
 * Interleaved runs showed no throughput or CPU-per-request cost within the machine's noise for
 * either (README "Memory"). A flag the operator gives on the command line wins over ours.
 */
import v8 from "node:v8";

export const MEMORY_FLAGS = ["--heap-growing-percent=50", "--liftoff-only"] as const;

/** Applies MEMORY_FLAGS that the command line does not set itself; returns those applied. */
export function applyMemoryFlags(execArgv: readonly string[] = process.execArgv, setFlags: (flag: string) => void = v8.setFlagsFromString): string[] {
  const given = new Set(execArgv.map(flagName));
  const applied = MEMORY_FLAGS.filter((flag) => !given.has(flagName(flag)));
  for (const flag of applied) setFlags(flag);
  return applied;
}

/** `--heap_growing_percent=10` and `--no-liftoff-only` both name the flag of `--heap-growing-percent=50` / `--liftoff-only`. */
function flagName(arg: string): string {
  return arg.replace(/=.*$/, "").replace(/_/g, "-").replace(/^--no-/, "--");
}
