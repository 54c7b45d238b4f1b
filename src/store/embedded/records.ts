/** Records in the embedded store: a map per kind, every change on disk before it resolves. */
import type { AccountStore, RecordKind } from "../record-store.js";
import { bumpVersion, type EmbeddedState } from "./state.js";

export function embeddedAccountStore(state: EmbeddedState): AccountStore {
  const { records, versions, writer } = state;
  const kindMap = (kind: string) => {
    let m = records.get(kind);
    if (!m) records.set(kind, (m = new Map()));
    return m;
  };
  return {
    async getRecord<T>(kind: RecordKind<T>, id: string) {
      const v = records.get(kind)?.get(id);
      return v === undefined ? null : (structuredClone(v) as T);
    },

    async putRecord(kind, id, value) {
      kindMap(kind).set(id, structuredClone(value));
      // Records are durable: accounts (passwords, roles, enabled), single-use reset links, site-config
      // overrides, signing keys. The store cannot tell a last-login stamp from a password change in the
      // same user record; a login pays an argon2id hash already, so one fsync more is small.
      await writer.durable();
    },

    async deleteRecord(kind, id) {
      const deleted = records.get(kind)?.delete(id) ?? false;
      if (deleted) await writer.durable();
      return deleted;
    },

    async writeRecords(kind, put, remove = []) {
      // Values are cloned before anything changes: a value that cannot be stored leaves all as it was.
      const copies = put.map(([id, value]) => [id, structuredClone(value)] as const);
      const map = kindMap(kind);
      for (const [id, value] of copies) map.set(id, value);
      for (const id of remove) map.delete(id);
      await writer.durable();
    },

    async replaceRecord(kind, id, expected, value) {
      const current = records.get(kind)?.get(id);
      if (current === undefined || JSON.stringify(current) !== JSON.stringify(expected)) return false;
      kindMap(kind).set(id, structuredClone(value));
      await writer.durable();
      return true;
    },

    async listRecords<T>(kind: RecordKind<T>) {
      return [...(records.get(kind)?.values() ?? [])].map((v) => structuredClone(v) as T);
    },

    async getUserVersion(user) {
      return versions.get(user) ?? 0;
    },

    async bumpUserVersion(user) {
      bumpVersion(state, user);
    },
  };
}
