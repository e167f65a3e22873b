/**
 * Peak total RSS of a set of processes running at the same time: every `intervalMs` the sampler
 * reads /proc/<pid>/statm (resident pages) of each tracked process still alive and sums them;
 * the peak is the largest sum seen. RSS counts pages shared between the processes (the
 * executable's text, mapped from one file) once per process, so the sum is an upper bound of
 * the memory they take together, and a peak between two samples can be missed.
 */
import { readFileSync } from 'node:fs';

const PAGE_KB = 4; // x86-64 and arm64 Linux as built here (4 KiB pages)

/** Resident set of `pid` in KiB, 0 when it is gone. */
export function rssKb(pid: number): number {
  try {
    const resident = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return Number.isFinite(resident) ? resident * PAGE_KB : 0;
  } catch {
    return 0;
  }
}

export class RssSampler {
  private readonly live = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private peak = 0;
  private count = 0;

  constructor(private readonly intervalMs = 20) {}

  /** Samples `pid` from now until untrack(). */
  track(pid: number | undefined): void {
    if (pid !== undefined) this.live.add(pid);
  }

  untrack(pid: number | undefined): void {
    if (pid !== undefined) this.live.delete(pid);
  }

  /** One sample now: the sum over the tracked processes. */
  sample(): number {
    let sum = 0;
    for (const pid of this.live) sum += rssKb(pid);
    this.count++;
    if (sum > this.peak) this.peak = sum;
    return sum;
  }

  start(): void {
    this.timer ??= setInterval(() => this.sample(), this.intervalMs);
  }

  /** Stops sampling; the peak total in MiB and how many samples it is over. */
  stop(): { peakMb: number; samples: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return { peakMb: Math.round((this.peak / 1024) * 10) / 10, samples: this.count };
  }
}
