import type { UploadItem } from '../data/uploads';

/**
 * Dropped or picked files as upload items: each top-level file is an item, each top-level
 * folder one item with its files' paths relative to it (read through the File System
 * entries API for drops, webkitRelativePath for a folder picker).
 */

async function readEntries(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  // readEntries returns at most about 100 entries per call: read until it returns none.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

const fileOf = (entry: FileSystemFileEntry) => new Promise<File>((resolve, reject) => entry.file(resolve, reject));

async function walk(entry: FileSystemEntry, prefix: string, out: { path: string; file: File }[]): Promise<void> {
  if (entry.isFile) out.push({ path: `${prefix}${entry.name}`, file: await fileOf(entry as FileSystemFileEntry) });
  else if (entry.isDirectory) for (const e of await readEntries(entry as FileSystemDirectoryEntry)) await walk(e, `${prefix}${entry.name}/`, out);
}

const bytesOf = async (f: File) => new Uint8Array(await f.arrayBuffer());

export async function itemsFromDrop(data: DataTransfer): Promise<UploadItem[]> {
  const entries = [...data.items].map((i) => i.webkitGetAsEntry?.() ?? null);
  if (entries.some((e) => e === null)) return itemsFromFiles([...data.files]);
  const items: UploadItem[] = [];
  for (const entry of entries as FileSystemEntry[]) {
    if (entry.isFile) {
      const f = await fileOf(entry as FileSystemFileEntry);
      items.push({ label: f.name, folder: false, files: [{ path: f.name, bytes: await bytesOf(f) }] });
    } else {
      const found: { path: string; file: File }[] = [];
      for (const e of await readEntries(entry as FileSystemDirectoryEntry)) await walk(e, '', found);
      items.push({ label: entry.name, folder: true, files: await Promise.all(found.map(async ({ path, file }) => ({ path, bytes: await bytesOf(file) }))) });
    }
  }
  return items;
}

/** Files from an <input type="file">: with a folder picker, one item per top folder. */
export async function itemsFromFiles(files: File[]): Promise<UploadItem[]> {
  const items: UploadItem[] = [];
  const folders = new Map<string, UploadItem>();
  for (const f of files) {
    const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath;
    if (rel && rel.includes('/')) {
      const [top, ...rest] = rel.split('/');
      let item = folders.get(top);
      if (!item) {
        item = { label: top, folder: true, files: [] };
        folders.set(top, item);
        items.push(item);
      }
      item.files.push({ path: rest.join('/'), bytes: await bytesOf(f) });
    } else items.push({ label: f.name, folder: false, files: [{ path: f.name, bytes: await bytesOf(f) }] });
  }
  return items;
}
