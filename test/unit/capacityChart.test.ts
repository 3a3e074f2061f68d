import { describe, expect, it } from 'vitest';
import { decadeDomain } from '../../src/ui/panels/CapacityChart';

describe('the capacity chart log axis', () => {
  it('keeps a method whose storage never changes off the frame', () => {
    const [lo, hi] = decadeDomain([131_072, 131_072, 131_072]);
    expect(lo).toBe(1e5);
    expect(hi).toBe(1e6);
    expect(lo).toBeLessThan(131_072);
    expect(hi).toBeGreaterThan(131_072);
  });

  it('spans every method in whole decades, with room for values on a decade', () => {
    expect(decadeDomain([131_072, 1_050_624, 435_200])).toEqual([1e5, 1e7]);
    expect(decadeDomain([1000, 5000])).toEqual([100, 1e4]);
    expect(decadeDomain([2000, 10_000])).toEqual([1000, 1e5]);
    expect(decadeDomain([])).toEqual([1, 10]);
  });
});
