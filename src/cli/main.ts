// The headless command line: `continual-lab <command> [options]`.
import { readFileSync, existsSync } from 'node:fs';
import { loadGpt2CheckpointDir } from '../checkpoint/gpt2CheckpointNode';
import { textLoss } from '../eval/textLoss';
import { createNodeContext, releaseNodeGpu } from '../gpu/node';
import { BASE_MODEL_PATH } from '../model/baseModelNode';
import { GptModel } from '../model/gpt';
import { tokenizerForConfig } from '../model/modelTokenizer';
import { DataError } from '../data/examples';
import { SettingsError } from '../methods/settings';
import { describeMethods, RUN_USAGE, runCommand, RunUsageError } from './run';

const USAGE = `usage: continual-lab loss [--model DIR] --text FILE [--window N]

  loss   mean cross-entropy of the model on the text: nats per token and bits per byte
         DIR holds config.json and model.safetensors (Hugging Face GPT-2 format);
         without --model, the lab's shipped base model (${BASE_MODEL_PATH})

${RUN_USAGE}`;

export function parseFlags(argv: string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (!k.startsWith('--')) throw new UsageError(`unexpected argument "${k}"`);
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${k} needs a value`);
    flags[k.slice(2)] = v;
    i++;
  }
  return flags;
}

export class UsageError extends Error {}

export async function lossCommand(flags: Record<string, string>, log: (s: string) => void): Promise<{ natsPerToken: number; bitsPerByte: number }> {
  const { text: file } = flags;
  const dir = flags.model ?? BASE_MODEL_PATH;
  if (!file) throw new UsageError('--text FILE is required');
  if (!existsSync(file)) throw new Error(`text file ${file} not found`);
  const text = readFileSync(file, 'utf8');
  const loaded = await loadGpt2CheckpointDir(dir);
  for (const w of loaded.warnings) log(`warning: ${w}`);
  const tokenizer = await tokenizerForConfig(loaded.config, `${dir}/config.json`);
  const ctx = await createNodeContext();
  try {
    const model = GptModel.fromTensors(ctx, loaded.config, loaded.tensors);
    const window = flags.window ? Number(flags.window) : undefined;
    const r = await textLoss(model, tokenizer, text, { window });
    log(`model      ${dir} (${loaded.config.n_layer} layers, width ${loaded.config.n_embd}, ${tokenizer.name} tokenizer)`);
    log(`text       ${file}: ${r.bytes} bytes; ${r.tokens} tokens (${r.scoredBytes} bytes) scored in ${r.windows} windows`);
    log(`loss       ${r.natsPerToken.toFixed(4)} nats/token (perplexity ${Math.exp(r.natsPerToken).toFixed(2)})`);
    log(`           ${r.bitsPerByte.toFixed(4)} bits per scored byte (each window's first token has no context and is not scored)`);
    model.dispose();
    return r;
  } finally {
    releaseNodeGpu(ctx);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'methods') {
      console.log(describeMethods());
      return 0;
    }
    if (command === 'run') {
      // The status line rewrites itself on a terminal; elsewhere (CI logs) each is a line.
      const tty = process.stderr.isTTY;
      await runCommand(
        rest,
        (s) => (tty ? process.stderr.write('\r\x1b[K') : 0, console.log(s)),
        (s) => (tty ? process.stderr.write(`\r\x1b[K${s}`) : console.error(s)),
      );
      if (tty) process.stderr.write('\n');
      return 0;
    }
    if (command === 'loss') {
      await lossCommand(parseFlags(rest), (s) => console.log(s));
      return 0;
    }
    console.error(command && command !== '--help' ? `unknown command "${command}"\n\n${USAGE}` : USAGE);
    return command === '--help' ? 0 : 2;
  } catch (e) {
    if (e instanceof RunUsageError) {
      console.error(`${e.message}\n\n${RUN_USAGE}`);
      return 2;
    }
    if (e instanceof SettingsError || e instanceof DataError) {
      console.error(`error: ${e.message}`);
      return 2;
    }
    if (e instanceof UsageError) {
      console.error(`${e.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
