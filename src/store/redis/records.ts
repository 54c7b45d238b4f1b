/** Records in Redis: one JSON string per record and a set of ids per kind, all of a kind in one Cluster slot. */
import { type AccountStore, type RecordKind, USER_CHANGED } from "../record-store.js";
import { type RedisContext, run } from "./context.js";

export function redisAccountStore({ client, keys: k }: RedisContext): AccountStore {
  return {
    getRecord: <T>(kind: RecordKind<T>, id: string) =>
      run(async () => {
        const value = await client.get(k.record(kind, id));
        return value === null ? null : (JSON.parse(value) as T);
      }),

    putRecord: (kind, id, value) => run(async () => void (await client.multi().set(k.record(kind, id), JSON.stringify(value)).sadd(k.recordIndex(kind), id).exec())),

    deleteRecord: (kind, id) =>
      run(async () => {
        const results = await client.multi().del(k.record(kind, id)).srem(k.recordIndex(kind), id).exec();
        return Number(results?.[0]?.[1] ?? 0) > 0;
      }),

    writeRecords: (kind, put, remove = []) =>
      run(async () => {
        // MULTI/EXEC: applied as one, and not at all if the connection fails before EXEC.
        const tx = client.multi();
        for (const [id, value] of put) tx.set(k.record(kind, id), JSON.stringify(value));
        if (put.length > 0) tx.sadd(k.recordIndex(kind), ...put.map(([id]) => id));
        if (remove.length > 0) tx.del(...remove.map((id) => k.record(kind, id))).srem(k.recordIndex(kind), ...remove);
        await tx.exec();
      }),

    replaceRecord: (kind, id, expected, value) =>
      run(async () => (await client.pcReplaceRecord(k.record(kind, id), JSON.stringify(expected), JSON.stringify(value))) === 1),

    listRecords: <T>(kind: RecordKind<T>) =>
      run(async () => {
        const ids = await client.smembers(k.recordIndex(kind));
        if (ids.length === 0) return [] as T[];
        const values = await client.mget(...ids.map((id) => k.record(kind, id)));
        return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as T);
      }),

    getUserVersion: (user) => run(async () => Number((await client.get(k.version(user))) ?? 0)),

    bumpUserVersion: (user) => run(async () => void (await client.multi().incr(k.version(user)).publish(k.channel(USER_CHANGED), user).exec())),
  };
}
