/// <reference lib="webworker" />
// The engine's Web Worker: every GPU job of the lab runs here, so the page holds no GPU
// device and stays responsive.
import { decodeSelfCheckExpected, SELF_CHECK_EXPECTED_PATH } from '../diagnostics/selfCheckExpected';
import { createBrowserContext } from '../gpu/browser';
import { fetchBaseModelFiles } from '../model/baseModel';
import { TrainingEngine } from './engine';
import { browserStateStore } from './idbStateStore';
import { engineCatalog } from './labProtocol';
import type { FromWorker, ToWorker } from './protocol';

const post = (m: FromWorker) => (self as unknown as DedicatedWorkerGlobalScope).postMessage(m);

async function selfCheckExpected() {
  const res = await fetch(`/${SELF_CHECK_EXPECTED_PATH}`);
  if (!res.ok) throw new Error(`/${SELF_CHECK_EXPECTED_PATH}: HTTP ${res.status}`);
  return decodeSelfCheckExpected(await res.text());
}

const engine = createBrowserContext().then(
  async (ctx) => {
    post({ type: 'ready', adapter: ctx.adapter, catalog: engineCatalog() });
    ctx.onDeviceLost((info) => post({ type: 'deviceLost', reason: info.message || info.reason }));
    const eng = new TrainingEngine(ctx, post, () => fetchBaseModelFiles(), { states: await browserStateStore(), selfCheckExpected });
    // After the page's init message (queued before this resolves), which may carry a stored result.
    setTimeout(() => void eng.prepare(), 0);
    return eng;
  },
  (e: unknown) => {
    post({ type: 'error', runId: null, message: e instanceof Error ? e.message : String(e) });
    return null;
  },
);

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  void engine.then((eng) => eng?.handle(ev.data));
};
