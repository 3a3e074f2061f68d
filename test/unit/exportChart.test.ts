import { describe, expect, it } from 'vitest';
import { matrixSvg } from '../../src/ui/exportChart';
import { viridis } from '../../src/ui/colors';

describe('a transfer matrix as SVG', () => {
  it('draws each scored cell in its viridis colour with its value, hatches rows not evaluated, and escapes names', () => {
    const svg = matrixSvg('seqlora <run>', [[0, 50], [100, 25], null], ['a&b', '<script>']);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain(`fill="${viridis(0.5)}"`);
    expect(svg).toContain(`fill="${viridis(1)}"`);
    expect(svg.match(/fill="url\(#hatch\)"/g)).toHaveLength(2);
    expect(svg).toContain('>25</text>');
    expect(svg).toContain('seqlora &lt;run&gt;');
    expect(svg).toContain('a&amp;b');
    expect(svg).not.toContain('<script>');
  });
});
