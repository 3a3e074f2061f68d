import { describe, expect, it } from 'vitest';
import { experimentToQuery, queryToExperiment } from '../../src/ui/urlState';

const fallback = { methods: [{ id: 'seqlora' }], seed: 0, preset: 'tiny' };

describe('the experiment in the URL', () => {
  it('round-trips methods, settings of every kind, seed, preset and the built-in tasks picked', () => {
    const experiment = {
      methods: [{ id: 'see', settings: { tau: 0.6, weightDecay: 0 } }, { id: 'moses', settings: { targets: ['attn.c_attn', 'mlp.c_fc'], topK: 2 } }, { id: 'replay' }],
      seed: 3,
      preset: 'default',
    };
    const query = experimentToQuery(experiment, ['capitals', 'sentiment']);
    expect(query).toBe('?methods=see,moses,replay&preset=default&seed=3&tasks=capitals,sentiment&set=see.tau=0.6;see.weightDecay=0;moses.targets=attn.c_attn|mlp.c_fc;moses.topK=2');
    expect(queryToExperiment(query, fallback)).toEqual({ experiment, tasks: ['capitals', 'sentiment'] });
  });

  it('reads a story, keeps the fallback for what the link leaves out, and names no experiment without methods', () => {
    expect(queryToExperiment('?story=experts', fallback)).toEqual({ experiment: { methods: [{ id: 'see' }, { id: 'moses' }], seed: 0, preset: 'tiny' }, tasks: null });
    expect(queryToExperiment('?seed=4', fallback)).toBeNull();
    expect(queryToExperiment('?methods=ewc&seed=x', fallback)?.experiment.seed).toBe(0);
  });

  it('leaves out values a link cannot carry rather than garbling them', () => {
    const q = experimentToQuery({ methods: [{ id: 'see', settings: { note: 'two words', tau: 0.5 } }], seed: 0, preset: 'tiny' }, null);
    expect(q).toBe('?methods=see&preset=tiny&seed=0&set=see.tau=0.5');
  });
});
