/**
 * Pause, resume and stop for the one run a worker has at a time (a fine-tuning job or an
 * experiment). Control takes effect between steps: `gate` is called before each step is
 * queued, waits while paused and says 'stop' once a stop was asked for.
 */
export class RunControl {
  private state: 'idle' | 'running' | 'paused' | 'stopping' = 'idle';
  private waiters: Array<() => void> = [];
  /** The runId of the run in progress, or null. */
  current: string | null = null;

  get busy(): boolean {
    return this.state !== 'idle';
  }

  begin(runId: string): void {
    this.state = 'running';
    this.current = runId;
  }

  end(): void {
    this.state = 'idle';
    this.current = null;
    this.wake();
  }

  pause(): void {
    if (this.state === 'running') this.state = 'paused';
  }

  resume(): void {
    if (this.state === 'paused') {
      this.state = 'running';
      this.wake();
    }
  }

  stop(): void {
    if (this.state === 'running' || this.state === 'paused') {
      this.state = 'stopping';
      this.wake();
    }
  }

  /**
   * Before a step: while paused, reports the steps in flight (settle), says where it paused,
   * waits for resume or stop, and says it resumed. Returns 'stop' when a stop was asked for.
   */
  async gate(settle: () => Promise<void>, onPaused: () => void, onResumed: () => void): Promise<'continue' | 'stop'> {
    if (this.now() === 'paused') {
      await settle();
      onPaused();
      // A resume may arrive before we start waiting (even from inside onPaused), so wait only
      // while still paused.
      while (this.now() === 'paused') await new Promise<void>((r) => this.waiters.push(r));
      if (this.now() === 'running') onResumed();
    }
    if (this.now() === 'stopping') {
      await settle();
      return 'stop';
    }
    return 'continue';
  }

  // A method, not the field: narrowing after a comparison cannot see changes made by
  // messages handled while we awaited.
  private now() {
    return this.state;
  }

  private wake() {
    this.waiters.splice(0).forEach((f) => f());
  }
}
