/**
 * File-system side of checkpoints, for Node only (the browser gets bytes from a file picker
 * or OPFS and calls the byte-level functions directly).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GptConfig } from '../model/config';
import { CheckpointError, type LoadedGpt2Checkpoint, loadGpt2Checkpoint, saveGpt2Checkpoint } from './gpt2Checkpoint';
import { readSafetensors, type SafetensorsFile, type SafetensorsInput, writeSafetensors } from './safetensors';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';

/**
 * Loads `config.json` + `model.safetensors` from a folder, as downloaded from a Hugging Face
 * model page. A folder holding only the PyTorch pickle or a sharded index gets a message
 * saying so, since those are the usual reasons the safetensors file is absent.
 */
export async function loadGpt2CheckpointDir(dir: string): Promise<LoadedGpt2Checkpoint> {
  const configPath = join(dir, CONFIG_FILE);
  const weightsPath = join(dir, WEIGHTS_FILE);
  if (!existsSync(dir)) throw new CheckpointError(`checkpoint folder ${dir} does not exist`);
  if (!existsSync(configPath)) throw new CheckpointError(`${configPath} not found: a GPT-2 checkpoint folder needs config.json and model.safetensors`);
  if (!existsSync(weightsPath)) {
    const files = await readdir(dir);
    let hint = '';
    if (files.includes('model.safetensors.index.json')) hint = '; the folder holds a sharded checkpoint, which is not supported: save it as one file';
    else if (files.includes('pytorch_model.bin')) hint = '; the folder holds pytorch_model.bin only: download model.safetensors from the same model page';
    throw new CheckpointError(`${weightsPath} not found (folder has: ${files.sort().join(', ') || 'nothing'})${hint}`);
  }
  const [configText, weights] = await Promise.all([readFile(configPath, 'utf8'), readFile(weightsPath)]);
  return loadGpt2Checkpoint(configText, new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), {
    config: configPath,
    weights: weightsPath,
  });
}

/** Writes `config.json` and `model.safetensors` into `dir`, creating it if needed. */
export async function saveGpt2CheckpointDir(dir: string, config: GptConfig, tensors: ReadonlyMap<string, Float32Array>): Promise<void> {
  const saved = saveGpt2Checkpoint(config, tensors);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, CONFIG_FILE), saved.configJson);
  await writeFile(join(dir, WEIGHTS_FILE), saved.safetensors);
}

export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  const bytes = await readFile(path);
  return readSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

export async function writeSafetensorsFile(path: string, tensors: Iterable<SafetensorsInput>, metadata?: Record<string, string>): Promise<void> {
  await writeFile(path, writeSafetensors(tensors, metadata));
}
