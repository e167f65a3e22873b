/**
 * Start-up tracing: SIGGUARD_TRACE=1 prints `sigguard-trace <ms since process start> <label>`
 * lines on stderr, to see where a hook's milliseconds go; SIGGUARD_TRACE=rss adds the resident
 * set and the V8 heap in use (MiB) after the time, to see where its peak RSS comes from. Off (and
 * free) otherwise.
 */
const mode = process.env.SIGGUARD_TRACE;
const on = mode === '1' || mode === 'rss';

const mib = (n: number): string => (n / 1048576).toFixed(1);

export function mark(label: string): void {
  if (!on) return;
  const memory = mode === 'rss' ? ` rss ${mib(process.memoryUsage.rss())} heap ${mib(process.memoryUsage().heapUsed)}` : '';
  process.stderr.write(`sigguard-trace ${performance.now().toFixed(1)}${memory} ${label}\n`);
}
