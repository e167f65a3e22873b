/**
 * Start-up tracing: SIGGUARD_TRACE=1 prints `sigguard-trace <ms since process start> <label>`
 * lines on stderr, to see where a hook's milliseconds go; SIGGUARD_TRACE=rss adds the resident
 * set and the V8 heap in use (MiB) after the time, to see where its peak RSS comes from;
 * SIGGUARD_TRACE=cpu adds the CPU time the process has used so far (user + system, ms), to see
 * what a start costs a node where many start at once (make bench's storm). Off (and free)
 * otherwise. The lines go to fd 2 directly: process.stderr would be made on the first mark, which
 * loads node:net (stderr a pipe) and so hid, in a traced run, what a start that never loads node:net
 * saves.
 */
import { writeSync } from 'node:fs';

const mode = process.env.SIGGUARD_TRACE;
const on = mode === '1' || mode === 'rss' || mode === 'cpu';

const mib = (n: number): string => (n / 1048576).toFixed(1);

export function mark(label: string): void {
  if (!on) return;
  let extra = '';
  if (mode === 'rss') extra = ` rss ${mib(process.memoryUsage.rss())} heap ${mib(process.memoryUsage().heapUsed)}`;
  else if (mode === 'cpu') {
    const { user, system } = process.cpuUsage();
    extra = ` cpu ${((user + system) / 1000).toFixed(1)}`;
  }
  try {
    writeSync(2, `sigguard-trace ${performance.now().toFixed(1)}${extra} ${label}\n`);
  } catch {
    /* a trace line that cannot be written is lost, never the start */
  }
}
