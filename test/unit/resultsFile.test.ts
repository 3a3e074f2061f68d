import { describe, expect, it } from 'vitest';
import { parseResults, RESULTS_VERSION } from '../../src/cl/results';

const good = {
  version: RESULTS_VERSION,
  streamName: 's',
  stream: [{ name: 'a' }, { name: 'b' }],
  seed: 0,
  preset: 'tiny',
  model: {},
  base: [0, 1],
  methods: { seqlora: { R: [[0, 1], [50, 1], null], stagesDone: 1, params: { stored: [5, null] }, forgetting: [null, null] } },
  environment: {},
};

describe('reading a results.json back', () => {
  it('accepts the runner\'s schema, unfinished rows included', () => {
    expect(parseResults(JSON.stringify(good)).methods.seqlora.R[1]).toEqual([50, 1]);
  });

  it('refuses other files with the reason and the file name', () => {
    expect(() => parseResults('PK\u0003\u0004', 'x.json')).toThrow(/^x\.json: not JSON/);
    expect(() => parseResults('[1, 2]')).toThrow(/expected a JSON object/);
    expect(() => parseResults(JSON.stringify({ ...good, version: 99 }))).toThrow(/"version" is 99/);
    const bad = { ...good, methods: { seqlora: { ...good.methods.seqlora, R: [[0, 1], [1]] } } };
    expect(() => parseResults(JSON.stringify(bad))).toThrow(/methods\.seqlora\.R must have 3 rows of 2 scores/);
    expect(() => parseResults(JSON.stringify({ ...good, stream: [] }))).toThrow(/"stream" must list/);
  });
});
