/**
 * How the embedded store is kept on disk: one JSON snapshot, replaced whole so that a crash leaves
 * either the old or the new one, written by one process at a time.
 */
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { FailureState } from "../regulation-store.js";
import type { SessionRecord } from "../session-store.js";
import { StoreUnavailableError } from "../store.js";

export interface Snapshot {
  version: 1;
  sessions: SessionRecord[];
  failures: Record<string, FailureState>;
  records: Record<string, Record<string, unknown>>;
}

/**
 * A `store.json` that cannot be used. The gateway stops instead of starting with an empty store, which
 * would silently forget every account, lock and password change (and re-create the first-run admin).
 */
export class StoreFileError extends Error {
  readonly code = "ERR_STORE_FILE";
  readonly file: string;

  constructor(file: string, problem: string, cause?: unknown) {
    super(
      `the embedded store file ${file} ${problem}; restore it from a backup, or move it aside to start with an empty store (its accounts, sessions and locks are then lost)`,
      cause === undefined ? undefined : { cause },
    );
    this.name = "StoreFileError";
    this.file = file;
  }
}

export interface SnapshotWriter {
  /** Writes the snapshot now (joining a write that has not started yet). */
  flush(): Promise<void>;
  /** Security-relevant changes: resolves once they are on disk; a failed write is a store failure (503). */
  durable(): Promise<void>;
  /**
   * Activity only (an idle slide, expired sessions dropped): written within the flush delay, or with
   * the next durable write. A failed batched write is not reported here: the next write retries it,
   * and a durable one reports the failure to its caller.
   */
  later(): void;
}

/** Writes `snapshotText()` to `file`; with no file (tests of the contract) every write is done at once. */
export function snapshotWriter(file: string | null, snapshotText: () => string, flushDelayMs: number): SnapshotWriter {
  // Writes run one after another (they share the temporary file). Each takes its snapshot when it
  // starts, so every change made before then is in it: calls that wait together share one write and
  // one fsync (group commit), instead of one each.
  let chain: Promise<void> = Promise.resolve();
  let queued: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): Promise<void> => {
    if (file === null) return Promise.resolve();
    if (queued) return queued;
    clearTimeout(timer);
    timer = undefined;
    const write = chain.then(() => {
      queued = null;
      return writeDurably(file, snapshotText());
    });
    queued = write;
    chain = write.catch(() => undefined);
    return write;
  };
  return {
    flush,
    async durable() {
      try {
        await flush();
      } catch (err) {
        throw new StoreUnavailableError(err);
      }
    },
    later() {
      if (file === null || timer !== undefined || queued !== null) return;
      timer = setTimeout(() => void flush().catch(() => undefined), flushDelayMs);
    },
  };
}

/** The snapshot in `file`, or null when there is none yet; anything unreadable is a StoreFileError. */
export function readSnapshot(file: string): Snapshot | null {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    throw new StoreFileError(file, `cannot be read (${code})`, err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new StoreFileError(file, text.trim() === "" ? "is empty" : `is not valid JSON (${(err as Error).message})`, err);
  }
  const isMap = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  const s = parsed as Partial<Snapshot> | null;
  if (!isMap(s) || s!.version !== 1 || !Array.isArray(s!.sessions) || !isMap(s!.failures) || !isMap(s!.records) || !Object.values(s!.records!).every(isMap)) {
    throw new StoreFileError(file, "does not hold a portcullis store (version 1)");
  }
  return s as Snapshot;
}

/**
 * Replaces `file` so that it holds either the old or the new text after a crash or power cut, and the
 * new one once this resolves: the data is fsynced before the rename, the directory after it (the
 * rename itself lives in the directory).
 */
async function writeDurably(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await fsp.open(tmp, "w", 0o600);
  try {
    await handle.writeFile(text, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsp.rename(tmp, file);
  let dir: fsp.FileHandle | undefined;
  try {
    dir = await fsp.open(path.dirname(file), "r");
    await dir.sync();
  } catch (err) {
    // Some platforms (Windows) and file systems cannot open or fsync a directory; the rename is all they offer.
    if (!["EISDIR", "EINVAL", "EPERM", "ENOTSUP"].includes((err as NodeJS.ErrnoException).code ?? "")) throw err;
  } finally {
    await dir?.close();
  }
}

/** Temporary files left by a process killed while writing: never renamed, so never part of the store. */
export function removeStaleTemporaries(file: string): void {
  const base = path.basename(file);
  const pattern = new RegExp(`^${base.replace(/\./g, "\\.")}\\.\\d+\\.tmp$`);
  for (const name of fs.readdirSync(path.dirname(file))) {
    if (pattern.test(name)) fs.rmSync(path.join(path.dirname(file), name), { force: true });
  }
}

/**
 * One process at a time: a second gateway, or a CLI command while a gateway runs, would overwrite
 * the other's changes. A lock left by a process that is gone is taken over.
 */
export function takeLock(lockFile: string): void {
  try {
    fs.writeFileSync(lockFile, String(process.pid), { flag: "wx", mode: 0o600 });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  const holder = Number(fs.readFileSync(lockFile, "utf8"));
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
    throw Object.assign(
      new Error(`the embedded store in ${path.dirname(lockFile)} is in use by process ${holder}; stop it first, or set store.redis to share state between processes`),
      { code: "ERR_STORE_LOCKED" },
    );
  }
  fs.writeFileSync(lockFile, String(process.pid), { mode: 0o600 });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
