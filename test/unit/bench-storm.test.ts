/**
 * The storm benchmark's own parts (bench/): the delaying proxy, the RSS sampler, the targets
 * table and the SVG. No timing assertions beyond "the proxy waits at least its delay".
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDelayProxy } from '../support/bench/delay-proxy.js';
import { RssSampler, rssKb } from '../support/bench/rss-sampler.js';
import { type CurvePoint, escapeXml, niceMax, stormSvg } from '../support/bench/storm-svg.js';
import fc from 'fast-check';
import { MIN_PAIRS, atMost, median, metCell, ratioInterval, targetTable } from '../support/bench/targets.js';

describe('delay proxy', () => {
  let upstream: http.Server;
  let host: string;
  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'docker-content-digest': 'sha256:00' });
      res.end(JSON.stringify({ path: req.url }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    host = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

  it('relays every request after its delay, counting them and the most at once', async () => {
    const proxy = await startDelayProxy(host, 50);
    try {
      const t0 = performance.now();
      const answers = await Promise.all(['/v2/a/manifests/x', '/v2/b/blobs/y', '/v2/'].map((p) => fetch(`http://${proxy.host}${p}`)));
      const elapsed = performance.now() - t0;
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      expect(await answers[0]!.json()).toEqual({ path: '/v2/a/manifests/x' });
      expect(answers[1]!.headers.get('docker-content-digest')).toBe('sha256:00');
      expect(elapsed).toBeGreaterThanOrEqual(49);
      expect(proxy.requests()).toBe(3);
      expect(proxy.paths()).toContain('GET /v2/b/blobs/y');
      expect(proxy.peakInFlight()).toBe(3);
    } finally {
      await proxy.close();
    }
  });
});

describe('RSS sampler', () => {
  it('sums the resident sets of the live tracked processes, and forgets the untracked', async () => {
    const a = spawn('/bin/sleep', ['5']);
    const b = spawn('/bin/sleep', ['5']);
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect(rssKb(a.pid!)).toBeGreaterThan(0);
      const s = new RssSampler(10);
      s.track(a.pid);
      const one = s.sample();
      s.track(b.pid);
      const two = s.sample();
      expect(one).toBeGreaterThan(0);
      expect(two).toBeGreaterThan(one);
      s.untrack(a.pid);
      s.untrack(b.pid);
      expect(s.sample()).toBe(0);
      const { peakMb, samples } = s.stop();
      expect(samples).toBe(3);
      expect(peakMb).toBeCloseTo(two / 1024, 1);
    } finally {
      a.kill();
      b.kill();
    }
  });

  it('reads a process that is gone as 0', () => {
    expect(rssKb(2 ** 22 + 7)).toBe(0);
  });
});

describe('targets table', () => {
  it('says met or not against the limit, with the ratio', () => {
    const yes = atMost('warm', '60 ms', 60, 50, 1.2, 'floor');
    const no = atMost('cold', '150 ms', 150, 50, 2, 'floor');
    expect(yes).toMatchObject({ ratio: 1.2, target: '≤ 1.2× floor', met: true });
    expect(no.met).toBe(false);
    const t = targetTable([yes, no, { what: 'a | b', figure: '1', target: '—' }]).split('\n');
    expect(t).toHaveLength(5);
    expect(t[2]).toBe('| warm | 60 ms | 1.20× | — | ≤ 1.2× floor | yes |');
    expect(t[3]).toContain('| **no** |');
    expect(t[4]).toBe('| a \\| b | 1 | — | — | — | — |');
  });

  it('gives a time paired round by round its 95% interval, and says when that interval holds the limit', () => {
    const cosign = [50, 52, 49, 51, 60, 48, 50, 53, 51, 50];
    const clear = atMost('check', '75 ms', 75, 50, 2, 'cosign', { xs: cosign.map((c) => c * 1.5), base: cosign });
    expect(clear.interval![0]).toBeCloseTo(1.5, 6);
    expect(clear.interval![1]).toBeCloseTo(1.5, 6);
    expect(metCell(clear)).toBe('yes');
    expect(targetTable([clear]).split('\n')[2]).toBe('| check | 75 ms | 1.50× | 1.50–1.50× | ≤ 2× cosign | yes |');
    // the same ratio with every other round 20% off either way: the interval holds 1.5
    const noisy = cosign.map((c, i) => c * 1.5 * (i % 2 ? 1.2 : 0.8));
    const near = atMost('check', '75 ms', median(noisy), median(cosign), 1.5, 'cosign', { xs: noisy, base: cosign });
    expect(near.interval![0]).toBeLessThan(1.5);
    expect(near.interval![1]).toBeGreaterThan(1.5);
    expect(metCell(near)).toMatch(/, within this run's noise$/);
    expect(metCell({ ...near, met: false })).toBe("**no**, within this run's noise");
    expect(metCell({ ...near, interval: [1.6, 1.8], met: false })).toBe('**no**');
  });

  it('has no interval without enough pairs, for unpaired arrays or no resamples, and is the same for the same samples', () => {
    const xs = [70, 90, 65, 80, 100, 72];
    const base = [50, 55, 49, 60, 51, 52];
    expect(MIN_PAIRS).toBe(5);
    expect(ratioInterval(xs.slice(0, 4), base.slice(0, 4))).toBeUndefined();
    expect(ratioInterval([], [])).toBeUndefined();
    expect(ratioInterval(xs, base.slice(1))).toBeUndefined();
    expect(ratioInterval(xs, base, 0)).toBeUndefined();
    expect(atMost('x', '1', 1, 1, 1, 'y', { xs: [1], base: [1] })).not.toHaveProperty('interval');
    expect(ratioInterval(xs, base)).toEqual(ratioInterval(xs, base));
    expect(ratioInterval(xs, base, 1)).toHaveLength(2);
  });

  it('leaves out a round where either run failed (NaN) or has no positive time, with its pair', () => {
    const base = [50, 50, 50, 50, 50, 50];
    const xs = [75, 75, 75, 75, 75, 75];
    expect(ratioInterval([...xs, Number.NaN, 0], [...base, 50, 50])).toEqual([1.5, 1.5]);
    expect(ratioInterval([...xs, 500], [...base, Number.NaN])).toEqual([1.5, 1.5]);
    expect(ratioInterval([...xs, 500, 500], [...base, -1, Number.POSITIVE_INFINITY])).toEqual([1.5, 1.5]);
    // five good rounds are enough, four are not
    expect(ratioInterval([75, 75, 75, 75, Number.NaN, 75], base)).toEqual([1.5, 1.5]);
    expect(ratioInterval([75, 75, 75, Number.NaN, Number.NaN, 75], base)).toBeUndefined();
  });

  it('holds every resampled ratio between the least and the most a round could give (property)', () => {
    const sample = fc.double({ min: 1, max: 1000, noNaN: true });
    fc.assert(
      fc.property(fc.array(fc.tuple(sample, sample), { minLength: MIN_PAIRS, maxLength: 30 }), (pairs) => {
        const xs = pairs.map((p) => p[0]);
        const base = pairs.map((p) => p[1]);
        const [lo, hi] = ratioInterval(xs, base, 200)!;
        expect(lo).toBeLessThanOrEqual(hi);
        expect(lo).toBeGreaterThanOrEqual(Math.min(...xs) / Math.max(...base) - 1e-9);
        expect(hi).toBeLessThanOrEqual(Math.max(...xs) / Math.min(...base) + 1e-9);
      }),
      { numRuns: 200, seed: 15 },
    );
  });
});

describe('storm SVG', () => {
  const points: CurvePoint[] = [
    { starts: 10, images: 10, hookMs: 900, floorMs: 400, hookRssMb: 700, floorRssMb: 300 },
    { starts: 1, images: 1, hookMs: 300, floorMs: 40, hookRssMb: 75, floorRssMb: 45 },
    { starts: 200, images: 20, hookMs: 9000, floorMs: 6000, hookRssMb: 9000, floorRssMb: 500, wrong: 3 },
  ];

  it('draws one polyline per series with a point per number of starts, in order', () => {
    const svg = stormSvg(points, 'note <&>');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    const lines = [...svg.matchAll(/<polyline points="([^"]+)" stroke="(#[0-9a-f]+)" fill="none" stroke-width="2"/g)];
    expect(lines).toHaveLength(4);
    for (const l of lines) {
      const xs = l[1]!.split(' ').map((p) => Number(p.split(',')[0]));
      expect(xs).toHaveLength(3);
      expect([...xs].sort((a, b) => a - b)).toEqual(xs);
    }
    expect(svg).toContain('note &lt;&amp;&gt;');
    expect(svg).toContain('1: 1, 10: 10, 200: 20');
    expect(svg.match(/>\d+ wrong</g)).toEqual(['>3 wrong<']);
  });

  it('rounds axes up to 1, 2 or 5 times a power of ten', () => {
    expect([niceMax(0), niceMax(7), niceMax(10), niceMax(11), niceMax(230), niceMax(9000)]).toEqual([1, 10, 10, 20, 500, 10000]);
    expect(escapeXml(`a"'b`)).toBe('a&quot;&apos;b');
  });
});
