import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../gpu/context';
import { baseModelFromFiles, BASE_MODEL_DIR, type BaseModelFiles, type BaseModelRecord } from './baseModel';
import type { GptModel } from './gpt';

/** The shipped base model's folder on disk (public/models/base in the package). */
export const BASE_MODEL_PATH = fileURLToPath(new URL(`../../public/${BASE_MODEL_DIR}`, import.meta.url));

/** In Node: the shipped base's three files from disk. */
export async function readBaseModelFiles(dir = BASE_MODEL_PATH): Promise<BaseModelFiles> {
  const [configText, weights, recordText] = await Promise.all([
    readFile(`${dir}/config.json`, 'utf8'),
    readFile(`${dir}/model.safetensors`),
    readFile(`${dir}/training.json`, 'utf8'),
  ]);
  return { configText, weights: new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), recordText };
}

/** In Node (the headless runner, tests): the base model shipped in public/models/base. */
export async function loadBaseModel(ctx: GpuContext, dir = BASE_MODEL_PATH): Promise<{ model: GptModel; record: BaseModelRecord }> {
  return baseModelFromFiles(ctx, await readBaseModelFiles(dir));
}
