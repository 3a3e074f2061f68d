import { useState } from 'react';
import type { GpuContext } from '../gpu/context';
import { fetchBaseModel, type BaseModelRecord } from '../model/baseModel';
import { generate } from '../model/generate';
import type { GptModel } from '../model/gpt';
import { byteTokenizer } from '../tokenizer/byteTokenizer';

/** Loads the shipped base model onto this GPU and lets the user sample from it. */
export function BaseModelPanel({ ctx }: { ctx: GpuContext }) {
  const [state, setState] = useState<{ model: GptModel; record: BaseModelRecord } | null>(null);
  const [prompt, setPrompt] = useState('Call me Ishmael. ');
  const [sample, setSample] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function run() {
    setBusy(true);
    setError(null);
    try {
      const loaded = state ?? (await fetchBaseModel(ctx));
      if (!state) setState(loaded);
      const tok = byteTokenizer;
      const ids = [tok.specials.begin, ...tok.encode(prompt)];
      const room = loaded.model.config.n_positions - ids.length;
      if (room < 1) throw new Error(`the prompt is ${ids.length} tokens; the model reads at most ${loaded.model.config.n_positions}`);
      const [out] = await generate(loaded.model, [ids], {
        maxNewTokens: Math.min(160, room),
        endId: tok.specials.end,
        padId: tok.specials.pad,
        temperature: 0.8,
        seed: 1,
      });
      setSample(tok.decode(out, { specials: 'skip' }));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  const r = state?.record;
  return (
    <section className="panel" data-testid="base-model">
      <h2>Base model</h2>
      <p className="muted">
        The lab's default base: a byte-level GPT-2 pretrained by this engine on <em>Moby Dick</em>.
      </p>
      {r && (
        <p data-testid="base-model-facts">
          {(r.parameters / 1e6).toFixed(2)}M parameters · {(r.training.tokens / 1e6).toFixed(1)}M training tokens · validation{' '}
          {r.validationBitsPerByte.toFixed(2)} bits/byte (order-0 byte model: {r.order0BitsPerByte.toFixed(2)})
        </p>
      )}
      <label>
        Prompt{' '}
        <input value={prompt} onChange={(e) => setPrompt(e.target.value)} style={{ width: '60%' }} maxLength={200} />
      </label>{' '}
      <button onClick={run} disabled={busy}>
        {busy ? 'Generating…' : state ? 'Sample' : 'Load and sample'}
      </button>
      {sample !== null && (
        <p data-testid="base-model-sample" style={{ whiteSpace: 'pre-wrap', fontFamily: 'serif' }}>
          <strong>{prompt}</strong>
          {sample}
        </p>
      )}
      {error && <p className="error">{error}</p>}
    </section>
  );
}
