import { openDB, type DBSchema, type IDBPDatabase } from 'idb';

/**
 * The lab's browser storage, one IndexedDB database shared by the page and the worker:
 * `kv` holds what the page keeps (the stream, the experiment, the runs' results), `states`
 * the methods' states after each stage that the worker writes (safetensors bytes, keyed
 * `runId/method/stage`). Values go in as structured clones, so nothing is stringified twice.
 */
export interface LabSchema extends DBSchema {
  kv: { key: string; value: unknown };
  states: { key: string; value: Uint8Array };
}

export const LAB_DB = 'continual-lab';
const VERSION = 1;

let opened: Promise<IDBPDatabase<LabSchema>> | null = null;

/** The database, opened once per realm; null where the browser gives no IndexedDB. */
export async function openLabDb(): Promise<IDBPDatabase<LabSchema> | null> {
  if (typeof indexedDB === 'undefined') return null;
  opened ??= openDB<LabSchema>(LAB_DB, VERSION, {
    upgrade(db) {
      if (!db.objectStoreNames.contains('kv')) db.createObjectStore('kv');
      if (!db.objectStoreNames.contains('states')) db.createObjectStore('states');
    },
  });
  try {
    return await opened;
  } catch {
    // Private windows and sandboxed frames may refuse storage: the lab still runs, it just forgets.
    opened = null;
    return null;
  }
}
