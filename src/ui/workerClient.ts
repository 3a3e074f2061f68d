import type { LabReplies, LabRequest } from '../worker/labProtocol';
import type { FromWorker, ToWorker } from '../worker/protocol';

/**
 * The page's one connection to the engine's worker. Requests get a promise of their reply;
 * every other message goes to the listener (the store). A lost device or a crashed worker
 * fails the requests in flight and is reported, and `restart` starts a fresh worker.
 */
export class WorkerClient {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly listener: (m: FromWorker) => void,
    private readonly create: () => Worker = () => new Worker(new URL('../worker/trainingWorker.ts', import.meta.url), { type: 'module' }),
  ) {}

  start(init: ToWorker): void {
    if (this.worker) return;
    const w = this.create();
    w.onmessage = (ev: MessageEvent<FromWorker>) => this.receive(ev.data);
    w.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.failPending(`the engine's worker failed: ${ev.message || 'unknown error'}`);
      this.listener({ type: 'error', runId: null, message: `the engine's worker failed: ${ev.message || 'unknown error'}` });
    };
    this.worker = w;
    w.postMessage(init);
  }

  /** Ends the worker (its GPU device with it) and starts a new one. */
  restart(init: ToWorker): void {
    this.worker?.terminate();
    this.worker = null;
    this.failPending('the engine restarted');
    this.start(init);
  }

  send(m: ToWorker): void {
    if (!this.worker) throw new Error('the engine has not started');
    this.worker.postMessage(m);
  }

  request<K extends LabRequest['kind']>(request: Extract<LabRequest, { kind: K }>): Promise<LabReplies[K]> {
    const id = this.nextId++;
    return new Promise<LabReplies[K]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: never) => void, reject });
      try {
        this.send({ type: 'request', id, request });
      } catch (e) {
        this.pending.delete(id);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  private receive(m: FromWorker): void {
    if (m.type === 'reply') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value as never);
      else p.reject(new Error(m.error));
      return;
    }
    if (m.type === 'deviceLost') this.failPending(`the GPU device was lost: ${m.reason}`);
    this.listener(m);
  }

  private failPending(reason: string): void {
    for (const p of this.pending.values()) p.reject(new Error(reason));
    this.pending.clear();
  }
}
