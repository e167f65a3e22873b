/**
 * The hosts.toml schema moved from zod's classic API to zod/mini (9bcb642, src/zod-docs.ts). What a
 * hosts.toml gives was meant to stay the same: accepted or refused, the data (own keys, in order,
 * unknown keys stripped), the first problem's path and message. Every expectation here was
 * established by running these texts through validateHostsFile of 9bcb642's parent (classic
 * schema), and the mini one agreed on them all and on 36,000 fast-check-generated TOML texts (each
 * side in a process of its own). One exception, older than 9bcb642 (zod's records): a
 * [host."__proto__"] entry was dropped unchecked, so sigguard skipped an endpoint containerd
 * tries (https://__proto__, with its CA); it is refused now.
 */
import fc from 'fast-check';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { ReasonCode } from '../../src/errors.js';
import { validateHostsFile } from '../../src/registry/hosts.js';
import { codeGeneratedBy } from '../support/generated-code.js';

const FILE = '/etc/containerd/certs.d/r.example/hosts.toml';
type Expected = { data: unknown } | { error: string };

function view(text: string): Expected {
  try {
    return { data: validateHostsFile(text, FILE) };
  } catch (err) {
    expect((err as { code?: string }).code).toBe(ReasonCode.CONFIG_INVALID);
    return { error: (err as Error).message };
  }
}
const ok = (data: unknown) => ({ data });
const bad = (path: string, message: string) => ({ error: `invalid ${FILE}: ${path}: ${message}` });
const unparsable = (message: string) => ({ error: `cannot parse ${FILE}: Invalid TOML document: ${message}` });
const CAPS = 'Invalid option: expected one of "pull"|"resolve"|"push"';
const PROTO_HOST = bad('host.__proto__', 'a [host] entry named __proto__ is not supported');

const cases: Array<[string, string, Expected]> = [
  ['empty', '', ok({})],
  ['server only', 'server = "https://registry.example"', ok({ server: 'https://registry.example' })],
  [
    "Kind's",
    'server = "http://kind-registry:5000"\n[host."http://kind-registry:5000"]\ncapabilities = ["pull", "resolve"]\nskip_verify = true',
    ok({
      server: 'http://kind-registry:5000',
      host: { 'http://kind-registry:5000': { capabilities: ['pull', 'resolve'], skip_verify: true } },
    }),
  ],
  [
    'every field of an entry',
    '[host."https://m.example"]\ncapabilities = ["pull", "resolve", "push"]\nskip_verify = false\nca = ["/a.pem", "b.pem"]\noverride_path = true\nclient = [["/c.pem", "/k.pem"]]\n[host."https://m.example".header]\nx-a = "1"\nx-b = ["2", "3"]',
    ok({
      host: {
        'https://m.example': {
          capabilities: ['pull', 'resolve', 'push'],
          skip_verify: false,
          ca: ['/a.pem', 'b.pem'],
          override_path: true,
          client: [['/c.pem', '/k.pem']],
          header: { 'x-a': '1', 'x-b': ['2', '3'] },
        },
      },
    }),
  ],
  ['unknown keys at the top, stripped', 'server = "https://r"\nmirror = 1\n[plugins]\nx = true', ok({ server: 'https://r' })],
  [
    'unknown keys in an entry, stripped',
    '[host."https://m"]\ncapabilities = ["pull"]\ndial_timeout = "1s"',
    ok({ host: { 'https://m': { capabilities: ['pull'] } } }),
  ],
  // zod's records drop a __proto__ key unchecked (the classic schema too: it loaded as { host: {} })
  ['host __proto__', '[host."__proto__"]\ncapabilities = ["pull", "resolve"]\nca = "/evil.pem"', PROTO_HOST],
  ['host __proto__ of wrong types', '[host."__proto__"]\ncapabilities = 5\nskip_verify = "yes"', PROTO_HOST],
  [
    'host __proto__ before another',
    '[host."__proto__"]\ncapabilities = ["pull"]\n[host."https://m.example"]\ncapabilities = ["pull"]',
    PROTO_HOST,
  ],
  ['host __proto__ inline', 'host = { "__proto__" = { ca = "/evil.pem" } }', PROTO_HOST],
  ['host __proto__ dotted', 'host."__proto__".skip_verify = true', PROTO_HOST],
  [
    'host __proto__ after a problem: the problem first',
    '[host."__proto__"]\n[host."https://m"]\nca = 1',
    bad('host."https://m".ca', 'Invalid input'),
  ],
  ['host constructor', '[host."constructor"]\nca = "/c.pem"', ok({ host: { constructor: { ca: '/c.pem' } } })],
  [
    'host toString and prototype',
    '[host.toString]\nskip_verify = true\n[host.prototype]\ncapabilities = []',
    ok({ host: { toString: { skip_verify: true }, prototype: { capabilities: [] } } }),
  ],
  // an unknown key named __proto__ is stripped as any unknown key: nothing of it is read
  ['top __proto__ table', '[__proto__]\nserver = "https://evil.example"\nca = "/evil.pem"', ok({})],
  [
    'top __proto__ inline',
    '__proto__ = { server = "https://evil.example" }\nserver = "https://r.example"',
    ok({ server: 'https://r.example' }),
  ],
  ['entry __proto__', '[host."https://m".__proto__]\nca = "/evil.pem"\nskip_verify = true', ok({ host: { 'https://m': {} } })],
  [
    'entry constructor',
    '[host."https://m"]\nconstructor = 1\ncapabilities = ["pull"]',
    ok({ host: { 'https://m': { capabilities: ['pull'] } } }),
  ],
  // headers: sigguard sends none of them; a __proto__ one is dropped unchecked, as with the classic schema
  ['header __proto__', '[header]\n__proto__ = "x"\nx-a = "1"', ok({ header: { 'x-a': '1' } })],
  ['header __proto__ of a wrong type', '[header]\n__proto__ = 5', ok({ header: {} })],
  ['header __proto__ table in an entry', '[host."https://m".header."__proto__"]\nx = "1"', ok({ host: { 'https://m': { header: {} } } })],
  ['header constructor', '[header]\nconstructor = ["a", "b"]', ok({ header: { constructor: ['a', 'b'] } })],
  ['ca a list', 'ca = ["/a.pem"]', ok({ ca: ['/a.pem'] })],
  ['ca an empty list', 'ca = []', ok({ ca: [] })],
  ['ca a number', 'ca = 5', bad('ca', 'Invalid input')],
  ['ca a list with a number', 'ca = ["/a.pem", 1]', bad('ca', 'Invalid input')],
  ['ca a nested list', 'ca = [["/a.pem"]]', bad('ca', 'Invalid input')],
  ['ca a table', '[ca]\npath = "/a.pem"', bad('ca', 'Invalid input')],
  ['header value a number', '[header]\nx = 1', bad('header.x', 'Invalid input')],
  ['header value a table', '[header.x]\ny = "1"', bad('header.x', 'Invalid input')],
  ['header value a list with a number', '[header]\nx = ["1", 2]', bad('header.x', 'Invalid input')],
  ['header a string', 'header = "x: 1"', bad('header', 'Invalid input: expected record, received string')],
  ['capability unknown', 'capabilities = ["pull", "delete"]', bad('capabilities[1]', CAPS)],
  ['capability in capitals', 'capabilities = ["Pull"]', bad('capabilities[0]', CAPS)],
  ['capabilities a string', 'capabilities = "pull"', bad('capabilities', 'Invalid input: expected array, received string')],
  ['capabilities empty', 'capabilities = []', ok({ capabilities: [] })],
  ['capabilities repeated', 'capabilities = ["pull", "pull"]', ok({ capabilities: ['pull', 'pull'] })],
  ['skip_verify a string', 'skip_verify = "true"', bad('skip_verify', 'Invalid input: expected boolean, received string')],
  ['skip_verify nan', 'skip_verify = nan', bad('skip_verify', 'Invalid input: expected boolean, received NaN')],
  ['override_path a number', 'override_path = 1', bad('override_path', 'Invalid input: expected boolean, received number')],
  ['server a number', 'server = 5000', bad('server', 'Invalid input: expected string, received number')],
  ['server a list', 'server = ["https://a"]', bad('server', 'Invalid input: expected string, received array')],
  ['server empty', 'server = ""', ok({ server: '' })],
  ['host an array of tables', '[[host]]\nserver = "https://m"', bad('host', 'Invalid input: expected record, received array')],
  ['host a string', 'host = "https://m"', bad('host', 'Invalid input: expected record, received string')],
  ['host entry a string', 'host = { "https://m" = "pull" }', bad('host."https://m"', 'Invalid input: expected object, received string')],
  [
    'host entry with an unknown capability',
    '[host."https://m"]\ncapabilities = ["pull", "resolve", "fetch"]',
    bad('host."https://m".capabilities[2]', CAPS),
  ],
  [
    'host key with a dot and a quote',
    '[host."a.b\\"c"]\nskip_verify = "no"',
    bad('host."a.b\\"c".skip_verify', 'Invalid input: expected boolean, received string'),
  ],
  ['host key empty', '[host.""]\nskip_verify = 1', bad('host."".skip_verify', 'Invalid input: expected boolean, received number')],
  // the first problem in the schema's order, not the document's
  ['two problems at the top', 'server = 1\nskip_verify = "x"', bad('skip_verify', 'Invalid input: expected boolean, received string')],
  [
    'two problems in an entry',
    '[host."https://m"]\nca = 1\ncapabilities = 2',
    bad('host."https://m".capabilities', 'Invalid input: expected array, received number'),
  ],
  ['two entries with problems', '[host."https://b"]\nca = 1\n[host."https://a"]\nca = 2', bad('host."https://b".ca', 'Invalid input')],
  ['not TOML', 'server = "https://r', unparsable('unfinished string 1: server = "https://r ^')],
  [
    'a key twice',
    'server = "a"\nserver = "b"',
    unparsable('trying to redefine an already defined table or value 1: server = "a" 2: server = "b" ^'),
  ],
  [
    'a host table twice',
    '[host."https://m"]\n[host."https://m"]',
    unparsable('trying to redefine an already defined table or value 1: [host."https://m"] 2: [host."https://m"] ^'),
  ],
  [
    'an integer beyond 2^53',
    'server = 9223372036854775807',
    unparsable('integer value cannot be represented losslessly 1: server = 9223372036854775807 ^'),
  ],
];

describe('the hosts.toml schema gives what the classic one gave', () => {
  it.each(cases)('%s', (_name, text, expected) => {
    const got = view(text);
    expect(got).toEqual(expected);
    // the same own keys in the same order (a dropped or an own __proto__ key shows here)
    expect(JSON.stringify(got)).toBe(JSON.stringify(expected));
  });

  it('refuses a date where a string goes, naming the class of the parser (TomlDate, _TomlDate once bundled)', () => {
    expect(view('server = 1979-05-27')).toEqual({
      error: expect.stringMatching(
        /^invalid \/etc\/containerd\/certs\.d\/r\.example\/hosts\.toml: server: Invalid input: expected string, received _?TomlDate$/,
      ),
    });
  });

  it('passes client through as the TOML parser gave it (null-prototype tables, dates, nan)', () => {
    const got = view('client = { a = 1979-05-27T07:32:00Z, __proto__ = { b = nan }, c = [inf, -0.0] }') as {
      data: { client: Record<string, unknown> };
    };
    const { client } = got.data;
    expect(Object.getPrototypeOf(client)).toBe(null);
    expect(Reflect.ownKeys(client)).toEqual(['a', '__proto__', 'c']);
    expect((client.a as Date).toISOString()).toBe('1979-05-27T07:32:00.000Z');
    expect(Object.getOwnPropertyDescriptor(client, '__proto__')?.value).toEqual({ b: Number.NaN });
    expect(client.c).toEqual([Number.POSITIVE_INFINITY, -0]);
    expect(Object.keys(got.data)).toEqual(['client']);
  });
});

describe('no [host] entry is dropped', () => {
  it('an accepted hosts.toml keeps every [host] key of its text, in order (generated)', () => {
    const key = fc.oneof(
      fc.constantFrom(
        '__proto__',
        'constructor',
        'prototype',
        'toString',
        'hasOwnProperty',
        '',
        'https://m.example',
        'http://10.0.0.1:5000',
      ),
      fc.string({ maxLength: 8 }),
    );
    const entry = fc.record(
      {
        capabilities: fc.array(fc.constantFrom('pull', 'resolve', 'push'), { maxLength: 3 }),
        skip_verify: fc.boolean(),
        ca: fc.string({ maxLength: 6 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, entry), { selector: ([k]) => k, maxLength: 5 }), (hosts) => {
        const text = hosts
          .map(
            ([k, e]) =>
              `[host.${JSON.stringify(k)}]\n${Object.entries(e)
                .map(([f, v]) => `${f} = ${JSON.stringify(v)}`)
                .join('\n')}`,
          )
          .join('\n');
        const got = view(text);
        let keys: string[];
        try {
          keys = Object.keys((parseToml(text) as { host?: object }).host ?? {});
        } catch {
          return expect('error' in got && got.error.startsWith(`cannot parse ${FILE}: `)).toBe(true); // a DEL in a key
        }
        if ('data' in got) expect(Object.keys((got.data as { host?: object }).host ?? {})).toEqual(keys);
        else expect([keys.includes('__proto__'), got]).toEqual([true, PROTO_HOST]);
      }),
      { numRuns: 300, seed: 9 },
    );
  });
});

describe('large and deep hosts.toml', () => {
  it('is checked in bounded time, with no code generated from text (jitless)', () => {
    const many = Array.from({ length: 20_000 }, (_, i) => `[host."https://m${i}.example"]\ncapabilities = ["pull"]`).join('\n');
    const headers = `[header]\n${Array.from({ length: 50_000 }, (_, i) => `h${i} = "v"`).join('\n')}`;
    const started = performance.now();
    const { result: results, generated } = codeGeneratedBy(() => [
      view(many),
      view(headers),
      view(`client = ${'['.repeat(900)}1${']'.repeat(900)}`),
      view(`client = ${'{ a = '.repeat(900)}1${' }'.repeat(900)}`),
      view(`client = ${'['.repeat(2000)}1${']'.repeat(2000)}`),
    ]);
    const ms = performance.now() - started;
    expect(generated).toEqual([]);
    const [m, h, da, dt, tooDeep] = results as [
      { data: { host: object } },
      { data: { header: object } },
      Expected,
      Expected,
      { error: string },
    ];
    expect(Object.keys(m.data.host)).toHaveLength(20_000);
    expect(Object.keys(h.data.header)).toHaveLength(50_000);
    expect('data' in da && 'data' in dt).toBe(true);
    expect(tooDeep.error).toMatch(
      `cannot parse ${FILE}: Invalid TOML document: document contains excessively nested structures. aborting.`,
    );
    expect(ms, 'a loaded machine is slower, never this much').toBeLessThan(20_000);
  });
});
