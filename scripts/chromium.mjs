// How the tests and benchmarks start Chromium with WebGPU. Shared by playwright.config.ts
// and the benchmark runners so that every browser run uses the same adapter and flags.
import { existsSync } from 'node:fs';

/** Path to a Chromium with WebGPU: $CHROMIUM_PATH, else Debian's /usr/bin/chromium. */
export function chromiumExecutable() {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH=${fromEnv} does not exist`);
    return fromEnv;
  }
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']) {
    if (existsSync(p)) return p;
  }
  throw new Error(
    'No Chromium found. Install one (Debian: `apt-get install -y chromium`) or set CHROMIUM_PATH to a Chromium or Chrome binary.',
  );
}

/** Flags that give WebGPU headless, on SwiftShader when the machine has no GPU. */
export function chromiumArgs() {
  const args = [
    '--enable-unsafe-webgpu',
    '--enable-features=Vulkan',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
  ];
  // Without a GPU, Chromium's WebGPU runs on the bundled SwiftShader Vulkan driver.
  if (process.env.WEBGPU_ADAPTER !== 'hardware') {
    args.push('--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader', '--enable-unsafe-swiftshader');
  }
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  return args;
}
