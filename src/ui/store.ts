import { create } from 'zustand';
import { parseResults } from '../cl/results';
import { fetchServedStream } from '../data/servedStream';
import type { MetricName, TestKind } from '../data/task';
import { importUploads, withTestKind, type UploadItem } from '../data/uploads';
import { webgpuMissingReason } from '../gpu/webgpuSupport';
import { openLabDb } from '../persist/labDb';
import type { LabReplies, LabRequest, ModelFiles } from '../worker/labProtocol';
import type { ToWorker } from '../worker/protocol';
import { experimentToQuery, queryToExperiment } from './urlState';
import { applyWorkerMessage, initialLabData, withError, type LabData, type RunState, type StreamState } from './labState';
import { WorkerClient } from './workerClient';

/**
 * The page's one store (zustand): the lab's data (labState.ts) and the actions the panels
 * call. It alone talks to the engine's worker, and it keeps the session (stream,
 * experiment, the run and its results) in IndexedDB, so a reload restores it and resumes a
 * run that a reload, a closed tab or a lost device interrupted.
 */

export interface LabActions {
  boot(): Promise<void>;
  request<K extends LabRequest['kind']>(request: Extract<LabRequest, { kind: K }>): Promise<LabReplies[K]>;
  /** Adds the dropped or picked items' tasks; bad items are listed with their reasons, nothing else changes. */
  addUploads(items: UploadItem[]): void;
  setTaskMetric(i: number, metric: MetricName): void;
  setTaskTestKind(i: number, kind: TestKind): void;
  /** Moves task i by `by` places (negative: earlier). */
  moveTask(i: number, by: number): void;
  removeTask(i: number): void;
  /** Back to the built-in stream. */
  resetStream(): Promise<void>;
  setMethods(ids: string[]): void;
  setSetting(method: string, key: string, value: unknown): void;
  setSeed(seed: number): void;
  setPreset(preset: string): void;
  startRun(): void;
  pause(): void;
  resume(): void;
  stop(): void;
  reconnect(): void;
  /** Runs start from this checkpoint (null: the shipped base); kept for the next visit. Throws the engine's refusal. */
  setModel(files: ModelFiles | null): Promise<void>;
  /** Shows a results.json (from the lab or the headless runner); a file of another kind is refused and nothing changes. */
  importResults(name: string, text: string): void;
  dismissError(id: number): void;
  reportError(message: string): void;
}

export type LabStore = LabData & LabActions;

/** The matmul measurement the worker posted, kept between visits (the worker has no localStorage). */
const TUNING_KEY = 'continual-lab/worker-matmul-tuning';
const SESSION_KEY = 'session';
/** The person's own checkpoint (config text and weights), sent to the engine again on the next visit. */
const MODEL_KEY = 'model';

function storedTuning(): unknown {
  try {
    const text = localStorage.getItem(TUNING_KEY);
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** What a reload restores: everything but the engine's live facts. */
type Session = Pick<LabData, 'stream' | 'experiment' | 'run'>;

async function loadSession(): Promise<Session | null> {
  const db = await openLabDb();
  return ((await db?.get('kv', SESSION_KEY)) as Session | undefined) ?? null;
}

async function saveSession(s: Session): Promise<void> {
  const db = await openLabDb();
  await db?.put('kv', s, SESSION_KEY);
}

let client: WorkerClient | null = null;
let builtinOrder: string[] = [];
/** Whether a saved session or a link chose the experiment (else the adapter picks the preset). */
let experimentGiven = false;

/** A stream changed beyond choosing built-in tasks is the person's own: it is named so. */
function edited(stream: StreamState): Pick<StreamState, 'name' | 'builtin'> {
  return { name: stream.builtin ? 'custom' : stream.name, builtin: false };
}
const initMessage = (): ToWorker => ({ type: 'init', matmulTuning: storedTuning() });

export const useLab = create<LabStore>()((set, get) => {
  const onMessage: ConstructorParameters<typeof WorkerClient>[0] = (m) => {
    if (m.type === 'tuned') {
      try {
        localStorage.setItem(TUNING_KEY, JSON.stringify(m.tuning));
      } catch {
        // Storage full or disabled: the worker measures again next time.
      }
    }
    const before = get().run;
    if (m.type !== 'runProgress') performance.mark(`lab:${m.type}`);
    set((s) => applyWorkerMessage(s, m));
    // A first visit gets the preset its adapter can run: minutes on a software adapter, the
    // benchmark's size on a GPU. A saved session or a link keeps its own.
    if (m.type === 'ready' && !experimentGiven) set((s) => ({ experiment: { ...s.experiment, preset: m.adapter.isSoftware ? 'tiny' : 'default' } }));
    const after = get().run;
    // Persist at the moments that matter for a reload: a stage's results, and a run's end.
    if (after && (m.type === 'stageDone' || (before?.status !== after.status && after.status !== 'running'))) persist();
  };

  let saving: Promise<void> = Promise.resolve();
  const persist = () => {
    const { stream, experiment, run } = get();
    const session: Session = { stream, experiment, run: run && { ...run, losses: get().live.losses } };
    // One write at a time, in order: a later state never lands before an earlier one.
    saving = saving.then(() => saveSession(session)).catch((e: unknown) => get().reportError(`could not save the session: ${String(e)}`));
  };

  /** The address bar follows the experiment (replaceState: no history entry per click). */
  const syncUrl = () => {
    const { experiment, stream } = get();
    const names = stream?.builtin ? stream.tasks.map((t) => t.name) : null;
    const tasks = names && names.join() !== builtinOrder.join() ? names : null;
    history.replaceState(null, '', `${location.pathname}${experimentToQuery(experiment, tasks)}${location.hash}`);
  };

  const launch = (run: RunState, resume: boolean) => {
    if (!client) return;
    set({ run, live: { progress: null, gpuBytes: 0, losses: run.losses } });
    persist();
    const ood = get().ood ?? undefined;
    client.send({ type: 'runExperiment', runId: run.runId, experiment: run.experiment, stream: run.stream, ood, resumeFrom: resume && run.results ? run.results : undefined });
  };

  return {
    ...initialLabData(),

    async boot() {
      if (client) return;
      const missing = webgpuMissingReason();
      if (missing) {
        set({ engine: { status: 'missing', reason: missing } });
        return;
      }
      client = new WorkerClient(onMessage);
      client.start(initMessage());
      const session = await loadSession().catch(() => null);
      const db = await openLabDb();
      const saved = (await db?.get('kv', MODEL_KEY).catch(() => undefined)) as ModelFiles | null | undefined;
      if (saved) {
        try {
          set({ model: await client.request({ kind: 'setModel', files: saved }) });
        } catch (e) {
          get().reportError(`the saved checkpoint no longer loads, the shipped base is in use: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      if (session) experimentGiven = true;
      if (session) set({ stream: session.stream, experiment: session.experiment, run: session.run, live: { progress: null, gpuBytes: 0, losses: session.run?.losses ?? {} } });
      if (!get().stream) await get().resetStream();
      else {
        try {
          builtinOrder = ((await (await fetch('data/builtin/stream.json')).json()) as { order: string[] }).order;
        } catch {
          // The link then lists the tasks even when they are the whole stream: still right.
        }
      }
      // A link names an experiment (and which built-in tasks, in which order): it wins over the saved one.
      const linked = queryToExperiment(location.search, get().experiment);
      if (linked) {
        experimentGiven = true;
        set({ experiment: linked.experiment });
        if (linked.tasks) {
          if (!get().stream?.builtin) await get().resetStream();
          const stream = get().stream;
          if (stream) {
            const unknown = linked.tasks.filter((t) => !stream.tasks.some((x) => x.name === t));
            if (unknown.length) get().reportError(`the link names tasks the built-in stream does not have: ${unknown.join(', ')}`);
            const tasks = linked.tasks.flatMap((t) => stream.tasks.filter((x) => x.name === t));
            if (tasks.length) set({ stream: { ...stream, tasks } });
          }
        }
        persist();
      }
      syncUrl();
      useLab.subscribe((now, before) => {
        if (now.experiment !== before.experiment || now.stream !== before.stream) syncUrl();
      });
      try {
        set({ ood: (await fetchServedStream('data/ood')).stream.tasks });
      } catch {
        // Without them SEE reports no out-of-distribution rejection; the run itself is unaffected.
      }
      const run = get().run;
      if (run && (run.status === 'running' || run.status === 'paused' || run.status === 'stopping' || run.status === 'interrupted')) {
        // Interrupted by a reload or a closed tab: go on from the last finished stage.
        launch({ ...run, status: 'running' }, true);
      }
    },

    request(request) {
      if (!client) return Promise.reject(new Error('the engine has not started'));
      return client.request(request);
    },

    addUploads(items) {
      const stream = get().stream;
      if (!stream) return;
      const out = importUploads(items, stream.tasks.map((t) => t.name), get().experiment.seed);
      const sources = { ...stream.sources };
      for (const u of out.added) if (u.files.length) sources[u.task.name] = u.files;
      set({
        stream: {
          ...stream,
          tasks: [...stream.tasks, ...out.added.map((u) => u.task)],
          notes: [...stream.notes, ...out.notes],
          ...(out.added.length ? edited(stream) : {}),
          sources,
          rejected: out.errors,
        },
      });
      persist();
    },

    setTaskMetric(i, metric) {
      const stream = get().stream;
      if (!stream?.tasks[i]) return;
      set({ stream: { ...stream, tasks: stream.tasks.map((t, k) => (k === i ? { ...t, metric } : t)), ...edited(stream) } });
      persist();
    },

    setTaskTestKind(i, kind) {
      const stream = get().stream;
      const task = stream?.tasks[i];
      if (!stream || !task) return;
      const changed = withTestKind({ task, files: stream.sources[task.name] ?? [] }, kind, get().experiment.seed).task;
      set({ stream: { ...stream, tasks: stream.tasks.map((t, k) => (k === i ? changed : t)), ...edited(stream) } });
      persist();
    },

    moveTask(i, by) {
      const stream = get().stream;
      if (!stream) return;
      const j = i + by;
      if (j < 0 || j >= stream.tasks.length) return;
      const tasks = [...stream.tasks];
      const [t] = tasks.splice(i, 1);
      tasks.splice(j, 0, t);
      set({ stream: { ...stream, tasks } });
      persist();
    },

    removeTask(i) {
      const stream = get().stream;
      if (!stream || stream.tasks.length <= 1) return;
      set({ stream: { ...stream, tasks: stream.tasks.filter((_, k) => k !== i) } });
      persist();
    },

    async resetStream() {
      try {
        const { stream, notes } = await fetchServedStream('data/builtin');
        builtinOrder = stream.tasks.map((t) => t.name);
        set({ stream: { name: stream.name, tasks: stream.tasks, notes, builtin: true, sources: {}, rejected: [] } });
        persist();
      } catch (e) {
        get().reportError(`could not load the built-in stream: ${e instanceof Error ? e.message : String(e)}`);
      }
    },

    setMethods(ids) {
      const prev = get().experiment.methods;
      set((s) => ({ experiment: { ...s.experiment, methods: ids.map((id) => prev.find((m) => m.id === id) ?? { id }) } }));
      persist();
    },

    setSetting(method, key, value) {
      set((s) => ({
        experiment: {
          ...s.experiment,
          methods: s.experiment.methods.map((m) => (m.id === method ? { ...m, settings: { ...m.settings, [key]: value } } : m)),
        },
      }));
      persist();
    },

    setSeed(seed) {
      set((s) => ({ experiment: { ...s.experiment, seed } }));
      persist();
    },

    setPreset(preset) {
      set((s) => ({ experiment: { ...s.experiment, preset } }));
      persist();
    },

    startRun() {
      const { stream, experiment, run } = get();
      if (!stream) return get().reportError('no task stream loaded yet');
      if (experiment.methods.length === 0) return get().reportError('pick at least one method');
      if (run && (run.status === 'running' || run.status === 'paused' || run.status === 'stopping')) return;
      // One run is kept at a time: the last one's stage states go (its results were exportable until now).
      if (run) void openLabDb().then((db) => db?.delete('states', IDBKeyRange.bound(`${run.runId}/`, `${run.runId}/\uffff`)));
      launch(
        { runId: `run-${Date.now().toString(36)}`, status: 'running', experiment, stream: { name: stream.name, tasks: stream.tasks }, results: null, losses: {}, answers: {}, history: {}, startedAt: Date.now() },
        false,
      );
    },

    pause() {
      client?.send({ type: 'pause' });
    },

    resume() {
      const run = get().run;
      if (run?.status === 'paused') client?.send({ type: 'resume' });
      else if (run && (run.status === 'stopped' || run.status === 'failed' || run.status === 'interrupted')) launch({ ...run, status: 'running' }, true);
    },

    stop() {
      const run = get().run;
      if (run && (run.status === 'running' || run.status === 'paused')) {
        set({ run: { ...run, status: 'stopping' } });
        client?.send({ type: 'stop' });
      }
    },

    reconnect() {
      if (!client) return;
      set({ engine: { status: 'starting' } });
      client.restart(initMessage());
      const run = get().run;
      if (run?.status === 'interrupted') launch({ ...run, status: 'running' }, true);
    },

    async setModel(files) {
      const facts = await get().request({ kind: 'setModel', files });
      set({ model: facts });
      const db = await openLabDb();
      await db?.put('kv', files, MODEL_KEY);
    },

    importResults(name, text) {
      const run = get().run;
      if (run && (run.status === 'running' || run.status === 'paused' || run.status === 'stopping')) return get().reportError('stop the run before importing results');
      let results;
      try {
        results = parseResults(text, name);
      } catch (e) {
        return get().reportError(e instanceof Error ? e.message : String(e));
      }
      const experiment = {
        methods: Object.entries(results.methods).map(([id, m]) => ({ id, settings: { ...m.settings } as Record<string, unknown> })),
        seed: results.seed,
        preset: results.preset,
      };
      set({
        run: { runId: `imported-${Date.now().toString(36)}`, status: 'done', experiment, stream: { name: results.streamName, tasks: [] }, results, losses: {}, answers: {}, history: {}, startedAt: Date.now(), importedFrom: name },
      });
      persist();
    },

    dismissError(id) {
      set((s) => ({ errors: s.errors.filter((e) => e.id !== id) }));
    },

    reportError(message) {
      set((s) => ({ errors: withError(s.errors, message) }));
    },
  };
});
