import { GpuContext } from './context';
import { GpuUnavailableError } from './errors';
import { browserShaderLibrary } from './browserShaderLibrary';
import { requiredLimits, wantedFeatures } from './adapterInfo';
import { webgpuMissingReason } from './webgpuSupport';

export { webgpuMissingReason };

/** Creates a GPU context in a page or a Web Worker. */
export async function createBrowserContext(): Promise<GpuContext> {
  const reason = webgpuMissingReason();
  if (reason) throw new GpuUnavailableError(reason);
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new GpuUnavailableError(
      'WebGPU is present but no adapter was found: the GPU may be blocklisted or hardware acceleration is off.',
    );
  }
  const device = await adapter.requestDevice({
    requiredLimits: requiredLimits(adapter),
    requiredFeatures: wantedFeatures(adapter),
  });
  return new GpuContext(
    device,
    adapter.info,
    adapter.features as ReadonlySet<string>,
    browserShaderLibrary,
    (adapter.info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
  );
}
