/**
 * Where a run keeps each method's state after each stage (encoded by methodState.ts): the
 * lab's worker in IndexedDB, tests in memory. Keys are `runId/method/stage`.
 */
export interface StateStore {
  put(key: string, bytes: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array | null>;
  /** Removes every entry whose key starts with `prefix` (a run's, say). */
  removePrefix(prefix: string): Promise<void>;
}

export const stateKey = (runId: string, method: string, stage: number) => `${runId}/${method}/${stage}`;

/** For tests, and where the browser gives no IndexedDB (states then last as long as the worker). */
export class MemoryStateStore implements StateStore {
  private readonly entries = new Map<string, Uint8Array>();
  async put(key: string, bytes: Uint8Array): Promise<void> {
    this.entries.set(key, bytes.slice());
  }
  async get(key: string): Promise<Uint8Array | null> {
    return this.entries.get(key)?.slice() ?? null;
  }
  async removePrefix(prefix: string): Promise<void> {
    for (const k of [...this.entries.keys()]) if (k.startsWith(prefix)) this.entries.delete(k);
  }
  keys(): string[] {
    return [...this.entries.keys()];
  }
}
