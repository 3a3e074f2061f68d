import { existsSync } from 'node:fs';
import { GpuContext } from './context';
import { GpuUnavailableError } from './errors';
import { nodeShaderLibrary } from './nodeShaderLibrary';
import type { ShaderLibrary } from './shaderLibrary';
import { requiredLimits, wantedFeatures } from './adapterInfo';

/** Where Debian's Chromium package puts the SwiftShader Vulkan driver. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

type DawnModule = { create(options: string[]): GPU; globals: object };

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
  lastInstance = dawn.create([]);
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
