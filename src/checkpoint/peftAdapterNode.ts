// File-system side of PEFT adapters, for Node only (the page reads and writes bytes itself).
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GptConfig } from '../model/config';
import type { LoraSettings, LoraValues } from '../model/lora';
import { loadPeftAdapter, savePeftAdapter, type LoadedPeftAdapter } from './peftAdapter';
import { CheckpointError } from './safetensors';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

/** Loads adapter_config.json + adapter_model.safetensors from a folder (PEFT's save_pretrained layout). */
export async function loadPeftAdapterDir(dir: string, config: GptConfig): Promise<LoadedPeftAdapter> {
  const configPath = join(dir, ADAPTER_CONFIG_FILE);
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  for (const p of [configPath, weightsPath]) {
    if (!existsSync(p)) throw new CheckpointError(`${p} not found: a LoRA adapter folder needs ${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE}`);
  }
  const [configText, weights] = await Promise.all([readFile(configPath, 'utf8'), readFile(weightsPath)]);
  return loadPeftAdapter(configText, new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), config, { config: configPath, weights: weightsPath });
}

/** Writes the adapter into `dir` (created if needed), apart from the base model's files. */
export async function savePeftAdapterDir(
  dir: string,
  config: GptConfig,
  settings: LoraSettings,
  values: ReadonlyMap<string, LoraValues>,
  baseModel?: string,
): Promise<void> {
  const saved = savePeftAdapter(config, settings, values, baseModel);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, ADAPTER_CONFIG_FILE), saved.configJson);
  await writeFile(join(dir, ADAPTER_WEIGHTS_FILE), saved.safetensors);
}
