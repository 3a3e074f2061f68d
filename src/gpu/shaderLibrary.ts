/** Where WGSL sources come from: Vite's `?raw` imports in the browser, the file system in Node. */
export interface ShaderLibrary {
  /** Source text of `shaders/<name>.wgsl`; throws naming the file if it is missing. */
  source(name: string): string;
}

/** Builds a library from a map of file path (any prefix) -> source, keyed by base name. */
export function libraryFromFiles(files: Record<string, string>): ShaderLibrary {
  const byName = new Map<string, string>();
  for (const [path, text] of Object.entries(files)) {
    const base = path.split('/').pop()!.replace(/\.wgsl$/, '');
    byName.set(base, text);
  }
  const raw = (name: string) => {
    const text = byName.get(name);
    if (text === undefined) {
      throw new Error(`shader "shaders/${name}.wgsl" not found (have: ${[...byName.keys()].sort().join(', ')})`);
    }
    return text;
  };
  // WGSL has no include: a line `//!include NAME` is replaced by shaders/NAME.wgsl, so
  // kernels can share helpers. Files put their includes last (WGSL declarations may come in
  // any order), which keeps compile-error line numbers those of the including file.
  const expand = (name: string, seen: string[]): string => {
    if (seen.includes(name)) throw new Error(`shader include cycle: ${[...seen, name].join(' -> ')}`);
    return raw(name).replace(/^\/\/!include ([\w-]+)[ \t]*$/gm, (_, inc: string) => expand(inc, [...seen, name]));
  };
  return { source: (name) => expand(name, []) };
}
