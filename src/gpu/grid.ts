import type { GpuContext } from './context';

/**
 * Workgroup grid for `n` independent items with `perGroup` items per workgroup. Grids
 * over the per-dimension limit (65535 on most adapters) fold into y; kernels rebuild the
 * flat index as `(wid.y * nwg.x + wid.x) * WG + lid.x` (see shaders/add.wgsl).
 */
export function grid1d(ctx: GpuContext, n: number, perGroup: number): [number, number] {
  const groups = Math.ceil(n / perGroup);
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}
