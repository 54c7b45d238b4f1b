/** Opens the store the config names: Redis when `store.redis` is set, else the embedded store. */
import path from "node:path";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log/logger.js";
import { createEmbeddedStore } from "./embedded/embedded-store.js";
import { createRedisStore } from "./redis/redis-store.js";
import type { Store } from "./store.js";

export async function openStore(config: Config, log: Logger, cwd = process.cwd()): Promise<Store> {
  if (config.store.redis) return createRedisStore({ target: config.store.redis });
  const dataDir = path.resolve(cwd, config.store.dataDir);
  log.warn({ dataDir }, "using the embedded store: state is kept by this one process only; set store.redis to run several gateways");
  return createEmbeddedStore({ dataDir });
}
