/**
 * The CLI's first import: V8's memory and garbage-collection settings (../ops/memory-flags.ts) must be
 * in place before the other modules are evaluated, or V8 has already made decisions under its
 * defaults (allocation sites tenured while the modules load, for one).
 */
import { applyMemoryFlags } from "../ops/memory-flags.js";

applyMemoryFlags();
