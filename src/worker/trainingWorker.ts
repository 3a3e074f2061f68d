/// <reference lib="webworker" />
// The Web Worker the page trains in, so the page stays responsive.
import { createBrowserContext } from '../gpu/browser';
import { fetchBaseModel } from '../model/baseModel';
import { TrainingEngine } from './engine';
import type { FromWorker, ToWorker } from './protocol';

const post = (m: FromWorker) => (self as unknown as DedicatedWorkerGlobalScope).postMessage(m);

const engine = createBrowserContext().then(
  (ctx) => {
    post({ type: 'ready', adapter: ctx.adapter });
    return new TrainingEngine(ctx, post, async (c) => (await fetchBaseModel(c)).model);
  },
  (e: unknown) => {
    post({ type: 'error', runId: null, message: e instanceof Error ? e.message : String(e) });
    return null;
  },
);

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  void engine.then((eng) => eng?.handle(ev.data));
};
