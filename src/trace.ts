/**
 * Start-up tracing: SIGGUARD_TRACE=1 prints `sigguard-trace <ms since process start> <label>`
 * lines on stderr, to see where a hook's milliseconds go. Off (and free) otherwise.
 */
const on = process.env.SIGGUARD_TRACE === '1';

export function mark(label: string): void {
  if (on) process.stderr.write(`sigguard-trace ${performance.now().toFixed(1)} ${label}\n`);
}
