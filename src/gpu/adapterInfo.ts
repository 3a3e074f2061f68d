/** What the lab shows about the adapter, and what decides defaults (software or not). */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU implementations (SwiftShader, lavapipe, WARP): slow, so smaller defaults. */
  isSoftware: boolean;
  features: string[];
  limits: Record<string, number>;
}

/** The limits the kernels depend on, in the order the UI lists them. */
export const KEY_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

const SOFTWARE = /swiftshader|lavapipe|llvmpipe|software|warp|basic render/i;

export function describeAdapter(
  info: GPUAdapterInfo,
  limits: GPUSupportedLimits,
  features: ReadonlySet<string>,
  isFallbackAdapter = false,
): AdapterSummary {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  const lim: Record<string, number> = {};
  for (const k of KEY_LIMITS) lim[k] = Number((limits as unknown as Record<string, number>)[k]);
  return {
    vendor: info.vendor || 'unknown',
    architecture: info.architecture || 'unknown',
    device: info.device || '',
    description: info.description || '',
    isSoftware:
      isFallbackAdapter || Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter) || SOFTWARE.test(text),
    features: [...features].sort(),
    limits: lim,
  };
}

/**
 * Device limits to request: the adapter's own for the buffer sizes and workgroup storage
 * the kernels use (defaults are far lower than most adapters allow).
 */
export function requiredLimits(adapter: GPUAdapter): Record<string, number> {
  const a = adapter.limits;
  return {
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxBufferSize: a.maxBufferSize,
    maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
  };
}

/** Optional features the lab uses when present; never assumed. */
export function wantedFeatures(adapter: GPUAdapter): GPUFeatureName[] {
  const want: GPUFeatureName[] = ['timestamp-query', 'subgroups' as GPUFeatureName, 'shader-f16'];
  return want.filter((f) => adapter.features.has(f));
}
