import { existsSync } from 'node:fs';
import { GpuContext } from './context';
import { GpuUnavailableError } from './errors';
import { nodeShaderLibrary } from './nodeShaderLibrary';
import type { ShaderLibrary } from './shaderLibrary';
import { requiredLimits, wantedFeatures } from './adapterInfo';

/** Where Debian's Chromium package puts the SwiftShader Vulkan driver. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

type DawnModule = { create(options: string[]): GPU; globals: object };

/**
 * Dawn options for the Node contexts. Tint's robustness transform clamps every index into
 * a storage buffer; on a software adapter those clamps sit in the matmul inner loops and
 * cost about a third of the time (608x384x128 matmul: 59.7 ms with them, 40.7 ms without,
 * median of 8 interleaved rounds, SwiftShader). Node only ever runs this project's own
 * kernels, which bound every access themselves (tests poison outputs and use awkward
 * sizes), so the transform is turned off here; browsers keep it, as they must for any
 * page's shaders. CONTINUAL_LAB_ROBUSTNESS=1 turns it back on.
 */
export function dawnOptions(env: Record<string, string | undefined> = process.env): string[] {
  return env.CONTINUAL_LAB_ROBUSTNESS === '1' ? [] : ['enable-dawn-features=disable_robustness'];
}

// Each context keeps its Dawn instance alive; dropping it lets the process exit.
const instances = new Map<GpuContext, GPU>();
let lastInstance: GPU | null = null;

/**
 * Creates a GPU context in Node through Dawn (npm package `webgpu`). It takes the system's
 * Vulkan adapter when there is a usable one, else SwiftShader from Debian's Chromium
 * package. Call `releaseNodeGpu()` at teardown: Node does not exit while Dawn is referenced.
 */
export async function createNodeContext(options: { shaders?: ShaderLibrary } = {}): Promise<GpuContext> {
  const dawn = (await import('webgpu')) as unknown as DawnModule;
  Object.assign(globalThis, dawn.globals);
  let adapter = await requestAdapter(dawn);
  if (!adapter && !process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && existsSync(SWIFTSHADER_ICD)) {
    // No usable system driver (none, or Debian 12's lavapipe that Dawn rejects): fall back
    // to Chromium's SwiftShader. The Vulkan loader reads this when the next instance starts.
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    adapter = await requestAdapter(dawn);
  }
  if (!adapter) {
    throw new GpuUnavailableError(
      'No WebGPU adapter found by Dawn. Install a Vulkan driver: on Debian, `apt-get install -y libvulkan1 chromium` ' +
        `(its SwiftShader driver at ${SWIFTSHADER_ICD} is used automatically), or point VK_ICD_FILENAMES at your GPU's ICD file.`,
    );
  }
  const device = await adapter.requestDevice({
    requiredLimits: requiredLimits(adapter),
    requiredFeatures: wantedFeatures(adapter),
  });
  const ctx = new GpuContext(
    device,
    adapter.info,
    adapter.features as ReadonlySet<string>,
    options.shaders ?? nodeShaderLibrary(),
    adapter.info.isFallbackAdapter,
  );
  instances.set(ctx, lastInstance!);
  lastInstance = null;
  return ctx;
}

async function requestAdapter(dawn: DawnModule): Promise<GPUAdapter | null> {
  lastInstance = dawn.create(dawnOptions());
  try {
    return await lastInstance.requestAdapter({ powerPreference: 'high-performance' });
  } catch {
    return null;
  }
}

/** Drops the Dawn instance so the Node process can exit. */
export function releaseNodeGpu(ctx: GpuContext): void {
  if (!ctx.isLost) ctx.destroy();
  instances.delete(ctx);
}
