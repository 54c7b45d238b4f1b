/**
 * The embedded store: for one gateway process without Redis. State lives in memory and is written whole
 * to `<dataDir>/store.json` (a temporary file, fsynced, renamed over it, then the directory fsynced), so
 * a restart keeps accounts, sessions and locks. Operations are synchronous inside, hence atomic in one
 * process. A change the gateway acts on for security (a password, an account's state, a session's end,
 * a failed-login count or lock, a site-config override) is on disk before its call resolves: a
 * `kill -9` or a power cut after the answer cannot bring the old state back. Changes that only record
 * activity are written in a batch shortly after.
 */
import { EventEmitter } from "node:events";
import fs from "node:fs";
import path from "node:path";
import type { Store } from "../store.js";
import { embeddedCoordination } from "./coordination.js";
import { readSnapshot, removeStaleTemporaries, type Snapshot, snapshotWriter, takeLock } from "./persistence.js";
import { embeddedAccountStore } from "./records.js";
import { embeddedRegulationStore } from "./regulation.js";
import { embeddedSessionStore, pruneSessions } from "./sessions.js";
import type { EmbeddedState, StoredState } from "./state.js";

export { StoreFileError } from "./persistence.js";

export interface EmbeddedStoreOptions {
  /** Directory to persist to; null keeps everything in memory (tests of the contract). */
  dataDir: string | null;
  /** Delay before a batched change (activity only, see SnapshotWriter.later) is written to disk. */
  flushDelayMs?: number;
}

export async function createEmbeddedStore(options: EmbeddedStoreOptions): Promise<Store> {
  const file = options.dataDir === null ? null : path.join(options.dataDir, "store.json");
  const lockFile = file === null ? null : `${file}.lock`;
  const data: StoredState = { sessions: new Map(), failures: new Map(), records: new Map() };
  if (file !== null) load(file, lockFile!, data);

  const events = new EventEmitter();
  events.setMaxListeners(0);
  const state: EmbeddedState = {
    ...data,
    versions: new Map(),
    events,
    writer: snapshotWriter(file, () => snapshotText(data), options.flushDelayMs ?? 200),
  };

  return {
    kind: "embedded",
    ...embeddedSessionStore(state),
    ...embeddedRegulationStore(state),
    ...embeddedAccountStore(state),
    ...embeddedCoordination(state),

    async prune(now) {
      pruneSessions(state, now);
    },

    async ping() {},

    async close() {
      try {
        await state.writer.flush();
      } finally {
        events.removeAllListeners();
        if (lockFile) fs.rmSync(lockFile, { force: true });
      }
    },
  };
}

/** Takes the store's lock and reads what it holds into `data`; on any failure the lock is left free. */
function load(file: string, lockFile: string, data: StoredState): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  takeLock(lockFile);
  try {
    removeStaleTemporaries(file);
    const snapshot = readSnapshot(file);
    if (snapshot) {
      for (const s of snapshot.sessions) data.sessions.set(s.id, s);
      for (const [user, state] of Object.entries(snapshot.failures)) data.failures.set(user, state);
      for (const [kind, byId] of Object.entries(snapshot.records)) data.records.set(kind, new Map(Object.entries(byId)));
    }
  } catch (err) {
    fs.rmSync(lockFile, { force: true });
    throw err;
  }
}

function snapshotText({ sessions, failures, records }: StoredState): string {
  const snapshot: Snapshot = {
    version: 1,
    sessions: [...sessions.values()],
    failures: Object.fromEntries(failures),
    records: Object.fromEntries([...records].map(([kind, byId]) => [kind, Object.fromEntries(byId)])),
  };
  return JSON.stringify(snapshot);
}
