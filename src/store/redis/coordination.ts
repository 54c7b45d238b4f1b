/** Locks and published messages over Redis; messages arrive on a second connection kept for subscriptions. */
import { Cluster, type Redis } from "ioredis";
import type { Coordination, Unsubscribe } from "../coordination.js";
import { type Client, type RedisContext, run } from "./context.js";

/** Coordination, and the subscriber connection to end when the store closes. */
export function redisCoordination({ client, keys: k }: RedisContext): Coordination & { closeSubscriber(): void } {
  let subscriber: Client | undefined;
  const handlers = new Map<string, Set<(message: string) => void>>();
  let epoch = 0;

  const subscriberConnection = (): Client => {
    if (subscriber) return subscriber;
    // A subscriber connection keeps its offline queue: subscriptions are replayed on reconnect.
    const sub: Client = client instanceof Cluster ? client.duplicate() : client.duplicate({ enableOfflineQueue: true });
    subscriber = sub;
    sub.on("error", () => undefined);
    sub.on("ready", () => epoch++);
    sub.on("message", (ch: string, message: string) => {
      for (const h of handlers.get(ch) ?? []) h(message);
    });
    return sub;
  };

  return {
    tryLock: (name, owner, ttlMs) => run(async () => (await client.set(k.lock(name), owner, "PX", ttlMs, "NX")) === "OK"),

    publish: (channel, message) => run(async () => void (await client.publish(k.channel(channel), message))),

    async subscribe(channel, handler): Promise<Unsubscribe> {
      const name = k.channel(channel);
      const sub = subscriberConnection();
      if (!handlers.has(name)) {
        handlers.set(name, new Set());
        await run(() => sub.subscribe(name));
      }
      handlers.get(name)!.add(handler);
      return () => {
        handlers.get(name)?.delete(handler);
      };
    },

    subscriptionEpoch: () => (subscriber !== undefined && (subscriber as Redis).status === "ready" ? epoch : -1),

    closeSubscriber: () => subscriber?.disconnect(),
  };
}
