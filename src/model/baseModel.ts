import { loadGpt2Checkpoint, type LoadedGpt2Checkpoint } from '../checkpoint/gpt2Checkpoint';
import type { GpuContext } from '../gpu/context';
import { GptModel } from './gpt';

/** Where the shipped base model lives: public/models/base, served at /models/base/. */
export const BASE_MODEL_DIR = 'models/base';

/** What npm run pretrain recorded about the shipped base (training.json). */
export interface BaseModelRecord {
  parameters: number;
  seed: number;
  corpus: { name: string; source: string; trainBytes: number; validationBytes: number };
  training: { steps: number; tokens: number; seconds: number; adapter: string };
  validationBitsPerByte: number;
  order0BitsPerByte: number;
  sha256: string;
}

export interface BaseModelFiles {
  configText: string;
  weights: Uint8Array;
  recordText: string;
}

/** The base's config and weights on the CPU, checked (errors name the base's files). */
export function baseCheckpointFromFiles(files: BaseModelFiles): LoadedGpt2Checkpoint {
  return loadGpt2Checkpoint(files.configText, files.weights, {
    config: `${BASE_MODEL_DIR}/config.json`,
    weights: `${BASE_MODEL_DIR}/model.safetensors`,
  });
}

/** Builds the base model on the GPU from its three files (fetched or read from disk). */
export function baseModelFromFiles(ctx: GpuContext, files: BaseModelFiles): { model: GptModel; record: BaseModelRecord } {
  const loaded = baseCheckpointFromFiles(files);
  const record = JSON.parse(files.recordText) as BaseModelRecord;
  return { model: GptModel.fromTensors(ctx, loaded.config, loaded.tensors), record };
}

/** In the browser: the base's three files, served by the lab itself (no request leaves the machine). */
export async function fetchBaseModelFiles(root = '/'): Promise<BaseModelFiles> {
  const get = async (name: string) => {
    const res = await fetch(`${root}${BASE_MODEL_DIR}/${name}`);
    if (!res.ok) throw new Error(`${BASE_MODEL_DIR}/${name}: HTTP ${res.status} (run npm run pretrain to create the base model)`);
    return res;
  };
  const [configText, weights, recordText] = await Promise.all([
    get('config.json').then((r) => r.text()),
    get('model.safetensors').then(async (r) => new Uint8Array(await r.arrayBuffer())),
    get('training.json').then((r) => r.text()),
  ]);
  return { configText, weights, recordText };
}

/** In the browser: the base model on the GPU. */
export async function fetchBaseModel(ctx: GpuContext, root = '/'): Promise<{ model: GptModel; record: BaseModelRecord }> {
  return baseModelFromFiles(ctx, await fetchBaseModelFiles(root));
}
