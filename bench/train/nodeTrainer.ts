// Our engine running in Node (Dawn) as a contender of the training benchmark page. The page
// cannot reach Node by itself: scripts/bench-train.mjs exposes `__nodeEngine` to it, which
// forwards each request to bench/train/nodeEngine.ts and resolves with its reply. The steps
// are timed by the Node process (the messaging is not the engine's cost) in the page's
// rounds, between the browser libraries' steps, so load changes hit all alike.
import type { TrainCase, TrainContender, Trainer } from './trainer';

declare global {
  interface Window {
    __nodeEngine?: (request: string) => Promise<string>;
  }
}

interface Reply {
  error?: string;
  losses?: number[];
  adapter?: string;
  loss?: number;
  ms?: number;
  dispatchesPerStep?: number;
  gpuBytes?: number;
}

async function call(request: object): Promise<Reply> {
  const send = window.__nodeEngine;
  if (!send) throw new Error('no Node engine: run the page through npm run bench:train');
  const reply = JSON.parse(await send(JSON.stringify(request))) as Reply;
  if (reply.error) throw new Error(`Node engine: ${reply.error}`);
  return reply;
}

export function nodeEngineAvailable(): boolean {
  return typeof window.__nodeEngine === 'function';
}

export async function createNodeTrainer(): Promise<TrainContender> {
  const { adapter } = await call({ op: 'hello' });
  return {
    lib: 'node',
    // Its pool lives in another process: the figure comes with each step, no memory page.
    memorySource: null,
    adapterInfo: () => adapter ?? 'unknown',
    prepare: async (c: TrainCase): Promise<Trainer> => {
      const prepared = await call({ op: 'prepare', kind: c.kind, quick: c.quick });
      const checks = [...(prepared.losses ?? [])];
      let last: Reply = {};
      const steps = async (n: number) => {
        last = await call({ op: 'steps', n });
        return last.loss!;
      };
      return {
        // The checked steps ran at prepare; hand their losses out in order, then train on.
        step: async () => (checks.length ? checks.shift()! : steps(1)),
        steps,
        gpuBytes: () => last.gpuBytes ?? null,
        dispatchesPerStep: () => last.dispatchesPerStep ?? null,
        lastStepMs: () => last.ms,
        dispose: () => void call({ op: 'dispose' }),
      };
    },
  };
}
