/**
 * The transfer matrix and what is read from it (DESIGN.md, evaluation). R has n + 1 rows:
 * R[0][j] scores the untrained base on task j, R[i][j] scores task j after training
 * through task i (1-based tasks, so row i is the stage that ends with task i). A row a
 * method does not produce (MTL trains once, on everything) is null.
 */
export type TransferMatrix = (number[] | null)[];

export interface TransferSummary {
  /** Mean of the last row. */
  OP: number | null;
  /** (1/(n-1)) sum over i < n of (R[n][i] - R[i][i]) (TRACE's convention); null for n < 2 or missing rows. */
  BWT: number | null;
  /** (1/(n-1)) sum over i >= 2 of (R[i-1][i] - R[0][i]); null for n < 2 or missing rows. */
  FWT: number | null;
  /**
   * Per task j < n: the best score it had at stages j..n-1 minus its final score
   * (Chaudhry et al. 2018: how much was lost; negative when the final score is its best).
   * The last task has none (null), nor has any task when a row is missing.
   */
  forgetting: (number | null)[];
}

function checkShape(R: TransferMatrix): number {
  const n = R.length - 1;
  if (n < 1) throw new Error('a transfer matrix needs the base row and at least one stage');
  for (const [i, row] of R.entries()) {
    if (row !== null && row.length !== n) throw new Error(`row ${i} of the transfer matrix has ${row.length} scores for ${n} tasks`);
  }
  return n;
}

export function summariseTransfer(R: TransferMatrix): TransferSummary {
  const n = checkShape(R);
  const last = R[n];
  const OP = last ? last.reduce((a, b) => a + b, 0) / n : null;
  const rowsAll = R.every((row) => row !== null);
  let BWT: number | null = null;
  let FWT: number | null = null;
  const forgetting: (number | null)[] = Array.from({ length: n }, () => null);
  if (n >= 2 && rowsAll) {
    const r = R as number[][];
    let b = 0;
    for (let i = 1; i < n; i++) b += r[n][i - 1] - r[i][i - 1];
    BWT = b / (n - 1);
    let f = 0;
    for (let i = 2; i <= n; i++) f += r[i - 1][i - 1] - r[0][i - 1];
    FWT = f / (n - 1);
    for (let j = 1; j < n; j++) {
      let best = -Infinity;
      for (let i = j; i < n; i++) best = Math.max(best, r[i][j - 1]);
      forgetting[j - 1] = best - r[n][j - 1];
    }
  }
  return { OP, BWT, FWT, forgetting };
}
