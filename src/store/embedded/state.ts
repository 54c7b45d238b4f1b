/** What every part of the embedded store shares: the state kept on disk, its writer, and change events. */
import type { EventEmitter } from "node:events";
import { USER_CHANGED } from "../record-store.js";
import type { FailureState } from "../regulation-store.js";
import type { SessionRecord } from "../session-store.js";
import type { SnapshotWriter } from "./persistence.js";

/** The state written to disk (user versions are not: a restart ends every cached login anyway). */
export interface StoredState {
  sessions: Map<string, SessionRecord>;
  failures: Map<string, FailureState>;
  records: Map<string, Map<string, unknown>>;
}

export interface EmbeddedState extends StoredState {
  versions: Map<string, number>;
  /** Published messages, by channel; delivered in this process only. */
  events: EventEmitter;
  writer: SnapshotWriter;
}

/** Moves a user's version and announces it, as Redis does in the same step. */
export function bumpVersion({ versions, events }: EmbeddedState, user: string): void {
  versions.set(user, (versions.get(user) ?? 0) + 1);
  events.emit(USER_CHANGED, user);
}
