import { useState } from 'react';
import type { SelfCheckResult } from '../diagnostics/kernelSelfCheck';
import { useLab } from './store';

/** Runs every kernel in the engine's worker against a float64 CPU reference, on request. */
export function KernelCheckPanel() {
  const request = useLab((s) => s.request);
  const [check, setCheck] = useState<{ results: SelfCheckResult[]; tolerance: number } | null>(null);
  const results = check?.results;
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function run() {
    setRunning(true);
    setError(null);
    try {
      setCheck(await request({ kind: 'selfCheck' }));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setRunning(false);
    }
  }

  const allPassed = results?.every((r) => r.passed);
  return (
    <section className="panel" data-testid="kernel-check">
      <h2>Kernel self-check</h2>
      <p className="muted">
        Runs each WGSL kernel in the engine's worker on random inputs and compares it with a float64 CPU reference
        {check && <> (tolerance {check.tolerance.toExponential(0)} relative)</>}.
      </p>
      <button onClick={run} disabled={running}>
        {running ? 'Checking…' : 'Check kernels'}
      </button>
      {error && <p className="error">{error}</p>}
      {results && (
        <>
          <p data-testid="kernel-check-summary" className={allPassed ? 'pass' : 'fail'}>
            {results.filter((r) => r.passed).length} of {results.length} kernels match the CPU reference
          </p>
          <table>
            <thead>
              <tr>
                <th>kernel</th>
                <th>shape</th>
                <th>max rel. error</th>
                <th>time (ms)</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              {results.map((r) => (
                <tr key={r.kernel + r.shape} data-testid={`check-${r.kernel}`}>
                  <td>{r.kernel}</td>
                  <td>{r.shape}</td>
                  <td className="num">{r.maxRelError.toExponential(2)}</td>
                  <td className="num">{r.ms.toFixed(1)}</td>
                  <td className={r.passed ? 'pass' : 'fail'}>{r.passed ? 'pass' : 'FAIL'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
