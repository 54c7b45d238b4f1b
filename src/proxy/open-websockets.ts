/**
 * Open WebSockets by the session that authenticated them, so that ending a session anywhere closes
 * its sockets here (SPEC §6.1).
 */
import type net from "node:net";

export class OpenWebSockets {
  private readonly bySession = new Map<string, Set<net.Socket>>();

  add(sessionId: string, socket: net.Socket): void {
    const set = this.bySession.get(sessionId) ?? new Set<net.Socket>();
    this.bySession.set(sessionId, set.add(socket));
    socket.once("close", () => {
      set.delete(socket);
      if (set.size === 0) this.bySession.delete(sessionId);
    });
  }

  /** Closes every socket of these sessions. */
  closeFor(sessionIds: Iterable<string>): void {
    for (const id of sessionIds) for (const socket of this.bySession.get(id) ?? []) socket.destroy();
  }
}
