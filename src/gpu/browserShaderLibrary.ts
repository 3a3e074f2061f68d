import { libraryFromFiles, type ShaderLibrary } from './shaderLibrary';

// Bundled at build time, so the page makes no request for shaders at run time.
const files = import.meta.glob('/shaders/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<
  string,
  string
>;

export const browserShaderLibrary: ShaderLibrary = libraryFromFiles(files);
