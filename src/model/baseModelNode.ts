import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../gpu/context';
import { baseModelFromFiles, BASE_MODEL_DIR, type BaseModelRecord } from './baseModel';
import type { GptModel } from './gpt';

const publicDir = fileURLToPath(new URL('../../public/', import.meta.url));

/** In Node (the headless runner, tests): the base model shipped in public/models/base. */
export async function loadBaseModel(ctx: GpuContext, dir = publicDir + BASE_MODEL_DIR): Promise<{ model: GptModel; record: BaseModelRecord }> {
  const [configText, weights, recordText] = await Promise.all([
    readFile(`${dir}/config.json`, 'utf8'),
    readFile(`${dir}/model.safetensors`),
    readFile(`${dir}/training.json`, 'utf8'),
  ]);
  return baseModelFromFiles(ctx, {
    configText,
    weights: new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength),
    recordText,
  });
}
