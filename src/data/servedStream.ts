import { loadStream, type LoadedStream, type StreamFile } from './stream';

/**
 * In the browser: a stream folder the lab serves itself (the built-in stream under
 * /data/builtin, its out-of-distribution tasks under /data/ood). A served folder cannot be
 * listed, so its stream.json must give the order, and each task is a folder of task.json,
 * train.jsonl and test.jsonl, the layout `npm run data` writes.
 */
export async function fetchServedStream(dir: string, seed = 0, root = '/'): Promise<LoadedStream> {
  const get = async (path: string): Promise<StreamFile> => {
    const res = await fetch(`${root}${dir}/${path}`);
    if (!res.ok) throw new Error(`${dir}/${path}: HTTP ${res.status}`);
    return { path, bytes: new Uint8Array(await res.arrayBuffer()) };
  };
  const manifest = await get('stream.json');
  const order = (JSON.parse(new TextDecoder().decode(manifest.bytes)) as { order?: unknown }).order;
  if (!Array.isArray(order) || !order.every((t) => typeof t === 'string')) throw new Error(`${dir}/stream.json: "order" must list the task folders`);
  const files = await Promise.all(order.flatMap((task: string) => ['task.json', 'train.jsonl', 'test.jsonl'].map((f) => get(`${task}/${f}`))));
  return loadStream([manifest, ...files], { name: dir.split('/').pop(), seed });
}
