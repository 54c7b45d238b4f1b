/**
 * The Redis store (ioredis; standalone, Sentinel or Cluster). Commands fail fast while Redis is
 * unreachable (no offline queue), so callers can fail closed with 503 instead of hanging; ioredis
 * reconnects by itself and the store works again as soon as Redis is back.
 */
import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { RedisTarget } from "../../config/fields.js";
import { type Store, StoreUnavailableError } from "../store.js";
import { type Client, defineScripts, redisKeys, run } from "./context.js";
import { redisCoordination } from "./coordination.js";
import { redisAccountStore } from "./records.js";
import { redisRegulationStore } from "./regulation.js";
import { redisSessionStore } from "./sessions.js";

export interface RedisStoreOptions {
  target: RedisTarget;
  /** Key prefix, so that tests (and several gateways) can share one Redis. */
  prefix?: string;
  /** How long a command may wait before it counts as a store failure. */
  commandTimeoutMs?: number;
}

function baseOptions(commandTimeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (times) => Math.min(times * 100, 2_000),
    lazyConnect: false,
  };
}

function connect(target: RedisTarget, commandTimeoutMs: number): Client {
  const options = baseOptions(commandTimeoutMs);
  switch (target.kind) {
    case "url":
      return new Redis(target.url, options);
    case "sentinel":
      return new Redis({ ...options, sentinels: target.sentinels, name: target.name, password: target.password });
    case "cluster":
      return new Cluster(target.nodes, { enableOfflineQueue: false, redisOptions: { ...options, password: target.password } });
  }
}

/** The target for messages, without any password. */
function describeTarget(target: RedisTarget): string {
  if (target.kind === "url") {
    try {
      const u = new URL(target.url);
      return `${u.hostname}:${u.port || 6379}`;
    } catch {
      return "store.redis";
    }
  }
  const nodes = target.kind === "sentinel" ? target.sentinels : target.nodes;
  return nodes.map((n) => `${n.host}:${n.port}`).join(", ");
}

/** Resolves once the first connection is ready (or rejects after `timeoutMs`). */
function ready(client: Client, timeoutMs: number, describe: string): Promise<void> {
  if ((client as Redis).status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(Object.assign(new StoreUnavailableError(new Error(`no connection within ${timeoutMs} ms`)), { message: `the store (Redis at ${describe}) is unreachable: no connection within ${timeoutMs} ms; check store.redis and that Redis runs` }));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off("ready", onReady);
    };
    client.on("ready", onReady);
  });
}

export async function createRedisStore(options: RedisStoreOptions): Promise<Store> {
  const prefix = options.prefix ?? "pc:";
  const client = defineScripts(connect(options.target, options.commandTimeoutMs ?? 2_000));
  // Errors are reported through failed commands; without a listener ioredis would log to stderr.
  client.on("error", () => undefined);
  try {
    await ready(client, 5_000, describeTarget(options.target));
  } catch (err) {
    client.disconnect();
    throw err;
  }

  const ctx = { client, prefix, keys: redisKeys(prefix) };
  const { closeSubscriber, ...coordination } = redisCoordination(ctx);
  return {
    kind: "redis",
    ...redisSessionStore(ctx),
    ...redisRegulationStore(ctx),
    ...redisAccountStore(ctx),
    ...coordination,

    prune: async () => undefined,

    ping: () => run(async () => void (await client.ping())),

    async close() {
      closeSubscriber();
      await client.quit().catch(() => client.disconnect());
    },
  };
}
