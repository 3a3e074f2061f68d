import type { MethodResult, RunResults } from '../cl/results';
import type { RunProgress } from '../cl/runStream';
import type { StreamFile } from '../data/stream';
import type { Stream, Task } from '../data/task';
import type { AdapterSummary } from '../gpu/adapterInfo';
import type { MatmulTuning } from '../kernels/matmulTuning';
import type { ModelFacts, Catalog, Experiment } from '../worker/labProtocol';
import type { FromWorker } from '../worker/protocol';

/**
 * The lab's state as plain data, and how each worker message changes it (a pure function,
 * tested without a browser). The zustand store (store.ts) holds it and adds the actions.
 */

export interface LossPoint {
  /** Steps of this method so far, over all its stages (1-based). */
  step: number;
  stage: number;
  /** Nats per answer token. */
  loss: number;
}

export type RunStatus = 'running' | 'paused' | 'stopping' | 'stopped' | 'done' | 'failed' | 'interrupted';

export interface RunState {
  runId: string;
  status: RunStatus;
  /** What ran: the experiment and the stream (as given, before the preset's limits) when it started. */
  experiment: Experiment;
  stream: Stream;
  results: RunResults | null;
  /** The training losses so far (the live ones are in LiveState; copied here at each stage for a reload). */
  losses: Record<string, LossPoint[]>;
  /**
   * Per method ('base' for row 0), per row of R, per task: the answers behind the scores
   * (for the matrix's cells); and each method's records as they were after each stage
   * (SEE's routing, MoSEs' usage), so the stage slider shows them as they were.
   */
  answers: Record<string, Record<number, string[][]>>;
  history: Record<string, Record<number, MethodResult>>;
  startedAt: number;
  /** Set for a results.json imported to view: no states behind it (no inspection, no resume). */
  importedFrom?: string;
}

export interface StreamState {
  name: string;
  tasks: Task[];
  /** What the loader decided on the user's behalf (splits made, files skipped). */
  notes: string[];
  builtin: boolean;
  /** The file each task given as one file came from (by task name), to split it again when its test kind changes. */
  sources: Record<string, StreamFile[]>;
  /** Files refused by the last upload, shown beside their names until the next. */
  rejected: { label: string; message: string }[];
}

export type EngineState =
  | { status: 'starting' }
  | { status: 'ready'; adapter: AdapterSummary; catalog: Catalog }
  | { status: 'missing'; reason: string }
  | { status: 'lost'; reason: string };

/** What changes every training step, kept apart from the run so that panels of finished stages do not redraw each step. */
export interface LiveState {
  progress: RunProgress | null;
  gpuBytes: number;
  losses: Record<string, LossPoint[]>;
}

export interface LabData {
  engine: EngineState;
  tuning: { tuning: MatmulTuning; fromCache: boolean } | null;
  /** The model runs start from (asked of the engine once it is ready). */
  model: ModelFacts | null;
  stream: StreamState | null;
  /** Tasks never trained, for SEE's out-of-distribution rejection and MoSEs' task inference. */
  ood: Task[] | null;
  experiment: Experiment;
  run: RunState | null;
  live: LiveState;
  /** Shown in the status line until dismissed. */
  errors: { id: number; message: string }[];
}

export const DEFAULT_EXPERIMENT: Experiment = { methods: [{ id: 'seqlora' }, { id: 'see' }], seed: 0, preset: 'tiny' };

export function initialLabData(): LabData {
  return { engine: { status: 'starting' }, tuning: null, model: null, stream: null, ood: null, experiment: DEFAULT_EXPERIMENT, run: null, live: { progress: null, gpuBytes: 0, losses: {} }, errors: [] };
}

let errorIds = 1;
export function withError(errors: LabData['errors'], message: string): LabData['errors'] {
  return [...errors, { id: errorIds++, message }];
}

/** Per method, the steps it trained before stage `stage` (each stage has the preset's steps). */
function globalStep(p: RunProgress, stepsPerStage: number): number {
  return (p.stage - 1) * stepsPerStage + p.step;
}

/** The change a worker message makes. Messages of another run than the current one are ignored. */
export function applyWorkerMessage(s: LabData, m: FromWorker): Partial<LabData> {
  const run = s.run;
  const mine = (runId: string | null) => run !== null && runId === run.runId;
  switch (m.type) {
    case 'ready':
      return { engine: { status: 'ready', adapter: m.adapter, catalog: m.catalog } };
    case 'tuned':
      return { tuning: { tuning: m.tuning, fromCache: m.fromCache } };
    case 'deviceLost':
      return {
        engine: { status: 'lost', reason: m.reason },
        run: run && (run.status === 'running' || run.status === 'paused' || run.status === 'stopping') ? { ...run, status: 'interrupted' } : run,
      };
    case 'runProgress': {
      if (!mine(m.runId)) return {};
      const p = m.progress;
      let losses = s.live.losses;
      if (p.phase === 'train' && Number.isFinite(p.loss)) {
        const stepsPerStage = Math.max(p.steps, 1);
        const list = losses[p.method] ?? [];
        const step = globalStep(p, stepsPerStage);
        // A resumed stage repeats its steps: keep the points before it only.
        const kept = list.length && list[list.length - 1].step >= step ? list.filter((q) => q.step < step) : list;
        losses = { ...losses, [p.method]: [...kept, { step, stage: p.stage, loss: p.loss }] };
      }
      const live = { progress: p, gpuBytes: m.gpuBytes, losses };
      return run!.status === 'interrupted' ? { live, run: { ...run!, status: 'running' } } : { live };
    }
    case 'stageDone': {
      if (!mine(m.runId)) return {};
      const key = m.method ?? 'base';
      const results = m.results;
      // MTL's one stage is the last row of its matrix.
      const row = m.method && results.methods[m.method]?.stages === 'joint' ? results.stream.length : m.stage;
      const answers = { ...run!.answers, [key]: { ...run!.answers[key], [row]: m.answers } };
      const history = m.method ? { ...run!.history, [m.method]: { ...run!.history[m.method], [m.stage]: results.methods[m.method] } } : run!.history;
      return { run: { ...run!, results, answers, history, losses: s.live.losses } };
    }
    case 'runDone':
      return mine(m.runId) ? { run: { ...run!, results: m.results, status: 'done', losses: s.live.losses }, live: { ...s.live, progress: null } } : {};
    case 'paused':
      return mine(m.runId) ? { run: { ...run!, status: 'paused' } } : {};
    case 'resumed':
      return mine(m.runId) ? { run: { ...run!, status: 'running' } } : {};
    case 'stopped':
      return mine(m.runId) ? { run: { ...run!, status: 'stopped', losses: s.live.losses }, live: { ...s.live, progress: null } } : {};
    case 'error':
      // After a lost device the run's own failure (a buffer that can no longer be read) is
      // its consequence: the run stays interrupted, to go on after reconnecting.
      if (m.runId !== null && mine(m.runId) && (run!.status === 'interrupted' || s.engine.status === 'lost')) return {};
      if (m.runId !== null && mine(m.runId)) return { run: { ...run!, status: 'failed', losses: s.live.losses }, live: { ...s.live, progress: null }, errors: withError(s.errors, m.message) };
      return { errors: withError(s.errors, m.message) };
    default:
      // Fine-tuning jobs' messages (progress, result) belong to the engine check, not the lab.
      return {};
  }
}
