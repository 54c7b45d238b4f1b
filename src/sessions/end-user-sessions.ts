/** Ending all of a user's sessions on every process: delete them in the store, then announce their ids. */
import type { Store } from "../store/store.js";

/** The channel on which ended session ids are announced (processes drop caches, close WebSockets). */
export const SESSION_ENDED = "session-ended";

export async function endUserSessions(store: Store, user: string): Promise<string[]> {
  const ids = await store.deleteUserSessions(user);
  if (ids.length > 0) await store.publish(SESSION_ENDED, JSON.stringify(ids));
  return ids;
}
