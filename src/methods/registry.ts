import type { MethodDefinition } from './method';
import { ewc } from './ewc';
import { moses } from './moses';
import { mtl } from './mtl';
import { olora } from './olora';
import { replay } from './replay';
import { seqft } from './seqft';
import { see } from './see';
import { seqlora } from './seqlora';
import { SettingsError } from './settings';

/** Every method the runner and the lab offer, in the order they are listed. Adding one is its file and its line here. */
export const METHODS: readonly MethodDefinition[] = [seqft, seqlora, replay, ewc, olora, mtl, see, moses];

export function methodDefinition(id: string): MethodDefinition {
  const d = METHODS.find((m) => m.id === id);
  if (!d) throw new SettingsError(`unknown method "${id}" (methods: ${METHODS.map((m) => m.id).join(', ')})`);
  return d;
}
