// Plumbing every benchmark page shares: a log mirrored to the console (the runner script
// relays lines starting with "[bench] "), error text, rounding for the JSON, and handing the
// result to the runner through window.__benchResult.

declare global {
  interface Window {
    __benchResult?: unknown;
  }
}

export function log(msg: string): void {
  console.log(`[bench] ${msg}`);
  const el = document.getElementById('log');
  if (el) el.textContent += `${msg}\n`;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** x to `digits` significant digits, as a number (keeps the JSON short). */
export const round = (x: number, digits = 3) => Number(x.toPrecision(digits));

/** Runs the page's main and publishes its result, or a failure the runner reports. */
export function publishResult(main: () => Promise<unknown>): void {
  main().then(
    (result) => {
      log('done');
      window.__benchResult = result;
    },
    (e) => {
      log(`FAILED: ${errorText(e)}`);
      window.__benchResult = { ok: false, fatal: errorText(e), stack: e instanceof Error ? e.stack : undefined, failures: [errorText(e)] };
    },
  );
}
