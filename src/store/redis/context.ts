/** What every part of the Redis store shares: the client with its scripts, the key names, and `run`. */
import type { Cluster, Redis } from "ioredis";
import { asStoreError } from "../unavailable.js";
import { COUNT_WINDOW, CREATE_SESSION, DELETE_USER_SESSIONS, RECORD_FAILURE, REPLACE_RECORD, TOUCH_SESSION } from "./scripts.js";

export type Client = Redis | Cluster;

interface Scripts {
  pcCreateSession(...args: (string | number)[]): Promise<(string | number)[]>;
  pcTouchSession(...args: (string | number)[]): Promise<number>;
  pcDeleteUserSessions(...args: (string | number)[]): Promise<string[]>;
  pcRecordFailure(...args: (string | number)[]): Promise<[number, number]>;
  pcCountWindow(...args: (string | number)[]): Promise<number>;
  pcReplaceRecord(...args: (string | number)[]): Promise<number>;
}

export interface RedisContext {
  client: Client & Scripts;
  /** Key prefix, so that tests (and several gateways) can share one Redis. */
  prefix: string;
  keys: RedisKeys;
}

export type RedisKeys = ReturnType<typeof redisKeys>;

export function redisKeys(prefix: string) {
  return {
    session: (tag: string, id: string) => `${prefix}{${tag}}:s:${id}`,
    sessionPrefix: (tag: string) => `${prefix}{${tag}}:s:`,
    userIndex: (tag: string, user: string) => `${prefix}{${tag}}:u:${user}`,
    failures: (user: string) => `${prefix}{u:${user}}:f`,
    version: (user: string) => `${prefix}{u:${user}}:v`,
    ipWindow: (ip: string, window: number) => `${prefix}ip:${ip}:${window}`,
    record: (kind: string, id: string) => `${prefix}{r:${kind}}:${id}`,
    recordIndex: (kind: string) => `${prefix}{r:${kind}}`,
    lock: (name: string) => `${prefix}lock:${name}`,
    channel: (name: string) => `${prefix}ch:${name}`,
  };
}

export function defineScripts(client: Client): Client & Scripts {
  const define = (name: string, numberOfKeys: number, lua: string) => client.defineCommand(name, { numberOfKeys, lua });
  define("pcCreateSession", 2, CREATE_SESSION);
  define("pcTouchSession", 1, TOUCH_SESSION);
  define("pcDeleteUserSessions", 1, DELETE_USER_SESSIONS);
  define("pcRecordFailure", 2, RECORD_FAILURE);
  define("pcCountWindow", 1, COUNT_WINDOW);
  define("pcReplaceRecord", 1, REPLACE_RECORD);
  return client as Client & Scripts;
}

/** Runs commands, turning an outage (see ../unavailable.ts) into StoreUnavailableError. */
export async function run<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asStoreError(err);
  }
}
