import { MemoryStateStore, type StateStore } from '../cl/stateStore';
import { openLabDb } from '../persist/labDb';

/** The methods' states in the lab's IndexedDB (in memory where the browser refuses storage). */
export async function browserStateStore(): Promise<StateStore> {
  const db = await openLabDb();
  if (!db) return new MemoryStateStore();
  return {
    async put(key, bytes) {
      await db.put('states', bytes, key);
    },
    async get(key) {
      return (await db.get('states', key)) ?? null;
    },
    async removePrefix(prefix) {
      // Keys sort as strings: every key with the prefix lies in [prefix, prefix + '\uffff').
      await db.delete('states', IDBKeyRange.bound(prefix, `${prefix}\uffff`));
    },
  };
}
