import type { ReactNode } from 'react';
import type { AdapterSummary } from '../gpu/adapterInfo';
import { KEY_LIMITS } from '../gpu/adapterInfo';

function formatLimit(name: string, v: number): string {
  if (/Size$/.test(name) && v >= 1024) {
    const mib = v / (1024 * 1024);
    return mib >= 1 ? `${mib.toFixed(mib >= 10 ? 0 : 1)} MiB` : `${(v / 1024).toFixed(0)} KiB`;
  }
  return v.toLocaleString('en-US');
}

export function AdapterPanel({ adapter, children }: { adapter: AdapterSummary; children?: ReactNode }) {
  return (
    <section className="panel" data-testid="adapter-panel">
      <h2>GPU adapter</h2>
      {adapter.isSoftware && (
        <div className="warning" data-testid="software-warning">
          This is a software adapter (WebGPU running on the CPU). Everything works, but training is about 100x
          slower than on a GPU; the lab picks small models and batches for it.
        </div>
      )}
      <table>
        <tbody>
          <tr>
            <th>Vendor</th>
            <td data-testid="adapter-vendor">{adapter.vendor}</td>
          </tr>
          <tr>
            <th>Architecture</th>
            <td data-testid="adapter-architecture">{adapter.architecture}</td>
          </tr>
          {adapter.description && (
            <tr>
              <th>Description</th>
              <td>{adapter.description}</td>
            </tr>
          )}
          {KEY_LIMITS.map((k) => (
            <tr key={k}>
              <th className="muted">{k}</th>
              <td className="num">{formatLimit(k, adapter.limits[k])}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {children}
      <h2 style={{ marginTop: '1rem' }}>Features</h2>
      <div className="chips" data-testid="adapter-features">
        {adapter.features.length === 0 && <span className="muted">none beyond core</span>}
        {adapter.features.map((f) => (
          <span className="chip" key={f}>
            {f}
          </span>
        ))}
      </div>
    </section>
  );
}
