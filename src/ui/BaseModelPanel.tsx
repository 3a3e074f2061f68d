import { useState } from 'react';
import { formatBytes } from './format';
import { useLab } from './store';

/** The shipped base model's facts, and samples from it (generated in the engine's worker). */
export function BaseModelPanel() {
  const request = useLab((s) => s.request);
  const base = useLab((s) => s.base);
  const [prompt, setPrompt] = useState('Call me Ishmael. ');
  const [sample, setSample] = useState<{ prompt: string; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function run() {
    setBusy(true);
    setError(null);
    try {
      if (!base) useLab.setState({ base: await request({ kind: 'baseModel' }) });
      const { text } = await request({ kind: 'generate', from: { kind: 'base' }, prompt, maxNewTokens: 160, temperature: 0.8, seed: 1 });
      setSample({ prompt, text });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  const r = base?.record;
  return (
    <section className="panel" data-testid="base-model">
      <h2>Base model</h2>
      <p className="muted">The lab's default base: a byte-level GPT-2 pretrained by this engine on <em>Moby Dick</em>.</p>
      {base && r && (
        <p data-testid="base-model-facts">
          {(r.parameters / 1e6).toFixed(2)}M parameters ({formatBytes(base.bytes)}) · {base.config.n_layer} layers, {base.config.n_embd} wide, context{' '}
          {base.config.n_positions} · tokenizer {base.tokenizer} · {(r.training.tokens / 1e6).toFixed(1)}M training tokens · validation{' '}
          {r.validationBitsPerByte.toFixed(2)} bits/byte (order-0 byte model: {r.order0BitsPerByte.toFixed(2)})
        </p>
      )}
      <label>
        Prompt <input value={prompt} onChange={(e) => setPrompt(e.target.value)} style={{ width: '60%' }} maxLength={200} />
      </label>{' '}
      <button onClick={run} disabled={busy}>
        {busy ? 'Generating…' : base ? 'Sample' : 'Load and sample'}
      </button>
      {sample !== null && (
        <p data-testid="base-model-sample" style={{ whiteSpace: 'pre-wrap', fontFamily: 'serif' }}>
          <strong>{sample.prompt}</strong>
          {sample.text}
        </p>
      )}
      {error && <p className="error">{error}</p>}
    </section>
  );
}
