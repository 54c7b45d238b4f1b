/**
 * Loads a CommonJS dependency at its first use instead of at startup. For the large ones most
 * gateways never call (node-forge, jks-js, nodemailer: ~4 MB of heap together), which would
 * otherwise stay resident for the life of the process.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export function lazyRequire<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}
