export interface LrSchedule {
  peakLr: number;
  /** Steps of linear warm-up from 0 to peakLr. */
  warmupSteps: number;
  /** Total optimizer steps; after warm-up the rate follows a cosine down to minLr. */
  totalSteps: number;
  minLr: number;
}

/** Learning rate at optimizer step `step` (1-based): linear warm-up, then cosine decay. */
export function learningRate(s: LrSchedule, step: number): number {
  if (!(step >= 1)) throw new RangeError(`learningRate: step must be >= 1, got ${step}`);
  if (s.warmupSteps > 0 && step <= s.warmupSteps) return (s.peakLr * step) / s.warmupSteps;
  const decaySteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / decaySteps);
  return s.minLr + 0.5 * (s.peakLr - s.minLr) * (1 + Math.cos(Math.PI * progress));
}
