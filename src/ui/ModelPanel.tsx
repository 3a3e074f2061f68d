import { useEffect, useState, type DragEvent } from 'react';
import { formatBytes } from './format';
import { useLab } from './store';

/** Finds config.json and the .safetensors file among dropped or picked files. */
async function modelFiles(files: File[]) {
  const config = files.find((f) => f.name.toLowerCase().endsWith('.json'));
  const weights = files.find((f) => f.name.toLowerCase().endsWith('.safetensors'));
  const missing = [!config && 'config.json', !weights && 'model.safetensors'].filter(Boolean);
  if (missing.length) throw new Error(`a checkpoint is config.json and model.safetensors together: ${missing.join(' and ')} missing (got ${files.map((f) => f.name).join(', ') || 'nothing'})`);
  return { configText: await config!.text(), weights: new Uint8Array(await weights!.arrayBuffer()), configName: config!.name, weightsName: weights!.name };
}

/**
 * The model every run starts from: the shipped base, or the person's own GPT-2-family
 * checkpoint (config.json + model.safetensors; GPT-2's BPE tokenizer ships with the lab).
 * A file that cannot load is refused with the file, the tensor and what was expected, and
 * the model in use stays. Samples come from the worker.
 */
export function ModelPanel() {
  const model = useLab((s) => s.model);
  const busyRun = useLab((s) => s.run?.status === 'running' || s.run?.status === 'paused' || s.run?.status === 'stopping');
  const { request, setModel } = useLab.getState();
  const [prompt, setPrompt] = useState('Call me Ishmael. ');
  const [sample, setSample] = useState<{ prompt: string; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [over, setOver] = useState(false);

  useEffect(() => {
    if (!model) request({ kind: 'model' }).then((m) => useLab.setState({ model: m }), (e: unknown) => setError(String(e instanceof Error ? e.message : e)));
  }, [model, request]);

  async function use(files: File[] | null) {
    setError(null);
    setBusy(true);
    try {
      await setModel(files === null ? null : await modelFiles(files));
      setSample(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  async function run() {
    setBusy(true);
    setError(null);
    try {
      const { text } = await request({ kind: 'generate', from: { kind: 'base' }, prompt, maxNewTokens: 160, temperature: 0.8, seed: 1 });
      setSample({ prompt, text });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    if (!busyRun) void use([...e.dataTransfer.files]);
  };
  const r = model?.record;
  return (
    <section className="panel" data-testid="base-model" onDragOver={(e) => (e.preventDefault(), setOver(true))} onDragLeave={() => setOver(false)} onDrop={onDrop}>
      <h2>Model</h2>
      {model && (
        <p data-testid="base-model-facts">
          <strong>{model.shipped ? 'The shipped base' : model.source}</strong>: {(model.parameters / 1e6).toFixed(2)}M parameters ({formatBytes(model.bytes)}) · {model.config.n_layer} layers,{' '}
          {model.config.n_embd} wide, {model.config.n_head} heads, context {model.config.n_positions} · tokenizer {model.tokenizer}
          {r && (
            <>
              {' '}
              · pretrained by this engine on <em>Moby Dick</em>, {(r.training.tokens / 1e6).toFixed(1)}M tokens, validation {r.validationBitsPerByte.toFixed(2)} bits/byte (order-0 byte model:{' '}
              {r.order0BitsPerByte.toFixed(2)})
            </>
          )}
        </p>
      )}
      {model?.warnings.map((w) => (
        <p key={w} className="muted small">
          note: {w}
        </p>
      ))}
      <div className={`dropzone${over ? ' over' : ''}`}>
        Your own GPT-2-family checkpoint: drop <code>config.json</code> and <code>model.safetensors</code> here, or{' '}
        <label className="picker">
          pick them
          <input type="file" multiple accept=".json,.safetensors" disabled={busyRun || busy} data-testid="pick-model" onChange={(e) => void use([...(e.target.files ?? [])]).then(() => (e.target.value = ''))} />
        </label>
        .{' '}
        {model && !model.shipped && (
          <button className="link" onClick={() => void use(null)} disabled={busyRun || busy}>
            Back to the shipped base
          </button>
        )}
      </div>
      <label>
        Prompt <input value={prompt} onChange={(e) => setPrompt(e.target.value)} style={{ width: '60%' }} maxLength={200} />
      </label>{' '}
      <button onClick={run} disabled={busy}>
        {busy ? 'Working…' : 'Sample'}
      </button>
      {sample !== null && (
        <p data-testid="base-model-sample" className="sample">
          <strong>{sample.prompt}</strong>
          {sample.text}
        </p>
      )}
      {error && (
        <p className="error" data-testid="model-error">
          {error}
        </p>
      )}
    </section>
  );
}
