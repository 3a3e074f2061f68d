import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { libraryFromFiles, type ShaderLibrary } from './shaderLibrary';

const shaderDir = fileURLToPath(new URL('../../shaders/', import.meta.url));

export function nodeShaderLibrary(dir = shaderDir): ShaderLibrary {
  const files: Record<string, string> = {};
  for (const f of readdirSync(dir)) if (f.endsWith('.wgsl')) files[f] = readFileSync(dir + '/' + f, 'utf8');
  return libraryFromFiles(files);
}
