// Check-then-time harness shared by every implementation in the kernel benchmark.
//
// An implementation is prepared once per case on its own random inputs, run once and
// compared with a float64 CPU reference, and only then timed. Each timed sample enqueues
// `inner` back-to-back calls and waits until the last call's outputs are on the host, so
// every library is measured up to the same point: results available to JavaScript.

/** One implementation prepared on one case's inputs. */
export interface Prepared {
  /** Runs one call and reads back every output (the check uses these). */
  once(): Promise<Float32Array[]>;
  /** Enqueues `n` calls, waits until the results of all of them are on the host, frees them. */
  batch(n: number): Promise<void>;
  /** Frees the inputs. */
  dispose(): void;
}

export interface CheckResult {
  ok: boolean;
  /** Worst |got - want| over the checked elements, divided by max |want| of that output. */
  maxRelErr: number;
  /** How many elements were compared (all of them, or a sample for big outputs). */
  checked: number;
  detail?: string;
}

export interface TimingPlan {
  /** Untimed calls after the check and before calibrating (first-use costs of the batch path);
   *  skipped when the check's call already took slowCallMs. */
  warmup: number;
  /** A sample should last at least this long, so small shapes are not all sync overhead. */
  minSampleMs: number;
  /** Samples per measurement (fewer when one call is slow). */
  samples: number;
  /** A call slower than this gets `slowSamples` samples instead. */
  slowCallMs: number;
  slowSamples: number;
  /** Upper bound on calls per sample. */
  maxInner: number;
}

export const FULL_PLAN: TimingPlan = { warmup: 1, minSampleMs: 60, samples: 5, slowCallMs: 700, slowSamples: 3, maxInner: 64 };
export const QUICK_PLAN: TimingPlan = { warmup: 0, minSampleMs: 0, samples: 1, slowCallMs: 0, slowSamples: 1, maxInner: 1 };

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** One implementation on one case, as the harness checks and times it. */
export interface Job {
  label: string;
  /** Floating-point operations of one call, for GFLOP/s. */
  flops: number;
  prepare(): Prepared;
  verify(got: Float32Array[]): CheckResult;
}

export interface Measured {
  gflops: number;
  ms: number;
  samplesMs: number[];
  inner: number;
  check: CheckResult;
}

export interface Failed {
  error: string;
  check?: CheckResult;
}

export type Outcome = Measured | Failed;

export function isMeasured(o: Outcome | undefined): o is Measured {
  return !!o && 'gflops' in o;
}

interface Live {
  job: Job;
  p: Prepared;
  check: CheckResult;
  inner: number;
  want: number;
  samplesS: number[];
}

const round = (x: number, digits = 4) => Number(x.toPrecision(digits));

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * Checks every job, then times the ones that passed. Samples are taken in rounds across
 * the jobs (one sample of each, then the next round), so a change in background load on a
 * shared machine lands on every implementation alike rather than on whichever ran then.
 * Each job's first timed call calibrates how many calls its samples need; when one call is
 * already slow, that calibration counts as its first sample.
 */
export async function runJobs(jobs: readonly Job[], plan: TimingPlan, log: (msg: string) => void): Promise<Outcome[]> {
  const outcomes: Outcome[] = jobs.map(() => ({ error: 'not run' }));
  const live: (Live | null)[] = jobs.map(() => null);
  try {
    for (let j = 0; j < jobs.length; j++) {
      const job = jobs[j];
      let p: Prepared | null = null;
      try {
        p = job.prepare();
        const c0 = performance.now();
        const got = await p.once();
        // First-use costs are noise next to a slow call: skip the warm-up there.
        const warmup = performance.now() - c0 >= plan.slowCallMs ? 0 : plan.warmup;
        const check = job.verify(got);
        if (!check.ok) {
          log(`${job.label}: WRONG RESULT (max rel err ${check.maxRelErr.toExponential(2)}; ${check.detail ?? ''}), not timed`);
          outcomes[j] = { error: 'result differs from the CPU reference', check };
          p.dispose();
          continue;
        }
        for (let w = 0; w < warmup; w++) await p.batch(1);
        const t0 = performance.now();
        await p.batch(1);
        const first = performance.now() - t0;
        const inner = Math.max(1, Math.min(plan.maxInner, Math.ceil(plan.minSampleMs / Math.max(first, 1e-3))));
        const slow = first >= plan.slowCallMs;
        const samplesS: number[] = [];
        if (inner === 1 && (slow || plan.samples === 1)) samplesS.push(first / 1000);
        live[j] = { job, p, check, inner, want: slow ? plan.slowSamples : plan.samples, samplesS };
      } catch (e) {
        log(`${job.label}: FAILED ${errorText(e)}`);
        outcomes[j] = { error: errorText(e) };
        safeDispose(p);
      }
      await tick();
    }
    for (let more = true; more; ) {
      more = false;
      for (let j = 0; j < jobs.length; j++) {
        const l = live[j];
        if (!l || l.samplesS.length >= l.want) continue;
        try {
          const s = performance.now();
          await l.p.batch(l.inner);
          l.samplesS.push((performance.now() - s) / 1000 / l.inner);
          more ||= l.samplesS.length < l.want;
        } catch (e) {
          log(`${l.job.label}: FAILED while timing: ${errorText(e)}`);
          outcomes[j] = { error: errorText(e), check: l.check };
          safeDispose(l.p);
          live[j] = null;
        }
        await tick();
      }
    }
    for (let j = 0; j < jobs.length; j++) {
      const l = live[j];
      if (!l) continue;
      const medianS = median(l.samplesS);
      const gflops = l.job.flops / medianS / 1e9;
      log(`${l.job.label}: ${gflops.toFixed(2)} GFLOP/s, ${(medianS * 1000).toFixed(2)} ms (x${l.inner}, ${l.samplesS.length} samples)`);
      outcomes[j] = {
        gflops: round(gflops),
        ms: round(medianS * 1000),
        samplesMs: l.samplesS.map((x) => round(x * 1000)),
        inner: l.inner,
        check: l.check,
      };
    }
  } finally {
    for (const l of live) safeDispose(l?.p ?? null);
  }
  return outcomes;
}

function safeDispose(p: Prepared | null): void {
  try {
    p?.dispose();
  } catch {
    /* freeing after a failure may fail too; the failure is already recorded */
  }
}

/**
 * Compares outputs with float64 references. `want[i]` may be partial: `index[i]`, when
 * given, lists which elements of output i were computed by the reference.
 */
export function compareOutputs(
  names: readonly string[],
  got: readonly Float32Array[],
  want: readonly Float64Array[],
  index: readonly (Int32Array | null)[],
  rtol: number,
): CheckResult {
  let worst = 0;
  let checked = 0;
  let detail: string | undefined;
  for (let o = 0; o < names.length; o++) {
    const g = got[o];
    const w = want[o];
    const idx = index[o];
    if (!g) return { ok: false, maxRelErr: Infinity, checked, detail: `output ${names[o]} missing` };
    let scale = 0;
    for (let i = 0; i < w.length; i++) scale = Math.max(scale, Math.abs(w[i]));
    scale = Math.max(scale, 1e-30);
    for (let i = 0; i < w.length; i++) {
      const at = idx ? idx[i] : i;
      const err = Math.abs(g[at] - w[i]) / scale;
      checked++;
      // NaN never compares greater, so test it explicitly: unwritten outputs show up as NaN.
      if (!(err <= worst)) {
        worst = Number.isNaN(err) ? Infinity : err;
        if (worst > rtol && !detail) {
          detail = `${names[o]}[${at}] = ${g[at]}, reference ${w[i].toPrecision(8)}`;
        }
      }
    }
  }
  const maxRelErr = Number.isFinite(worst) ? Number(worst.toPrecision(3)) : worst;
  return { ok: worst <= rtol, maxRelErr, checked, detail: worst > rtol ? detail : undefined };
}

/** Seed derived from a label, so every implementation checks on different inputs. */
export function seedOf(label: string): number {
  let h = 2166136261;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Yields to the event loop so progress messages and the page stay live. */
export function tick(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}
