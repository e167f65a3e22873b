/**
 * Reference and scope normalisation: a reject scope (under `default: accept`)
 * must not be escaped by another spelling of the same image — docker.io,
 * index.docker.io, library/, ports, case — and a scope must not be entered
 * across a prefix boundary (localhost:5001/app vs localhost:5001/application)
 * or a `*.` wildcard's edge. Policy scopes decide without the registry.
 */
import type { Case, Category, Ctx } from '../harness.js';
import { allow, check, deny } from './util.js';

const D = `sha256:${'6'.repeat(64)}`;
// an unparsable reference on check's command line is a usage error (exit 2); in the hook INVALID_REFERENCE
const REFUSED = ['POLICY_REJECT', 'INVALID_REFERENCE', 'USAGE'];

function refusedSpelling(image: string, attack: string): Case {
  return { name: image, attack, expect: deny(...REFUSED), run: (ctx) => check(image, { policy: ctx.shared.refPolicy }) };
}

function boundary(image: string, attack: string): Case {
  // under default: reject, a scope that accepts must not be entered from a neighbour
  return {
    name: `${image} (default reject)`,
    attack,
    expect: deny(...REFUSED),
    run: (ctx) => check(image, { policy: ctx.shared.refStrict }),
  };
}

export const references: Category = {
  category: 'reference and scope normalisation',
  async setup(ctx: Ctx) {
    ctx.shared.refPolicy = ctx.writePolicy(`version: 1
default: accept
scopes:
  "docker.io/library/busybox":
    - type: reject
  "localhost:5001":
    - type: reject
  "localhost:5001/app":
    - type: insecureAcceptAnything
  "*.example.com":
    - type: reject
  "quay.io/acme":
    - type: reject
`);
    ctx.shared.refStrict = ctx.writePolicy(`version: 1
default: reject
scopes:
  "localhost:5001/app":
    - type: insecureAcceptAnything
  "*.example.com":
    - type: insecureAcceptAnything
  "quay.io/acme":
    - type: insecureAcceptAnything
`);
  },
  cases: [
    refusedSpelling('busybox', 'short name for docker.io/library/busybox'),
    refusedSpelling('library/busybox', 'library/ without the registry'),
    refusedSpelling('docker.io/busybox', 'docker.io without library/'),
    refusedSpelling('index.docker.io/library/busybox', 'the legacy Docker Hub name'),
    refusedSpelling(`busybox@${D}`, 'by digest'),
    refusedSpelling(`index.docker.io/busybox:latest@${D}`, 'legacy name, no library/, tag and digest'),
    refusedSpelling('localhost:5001/application', 'a longer name sharing the accepted prefix localhost:5001/app'),
    refusedSpelling('localhost:5001/app-evil', 'prefix with a dash'),
    refusedSpelling('localhost:05001/other', 'the rejected registry with a zero-padded port'),
    refusedSpelling('LOCALHOST:5001/other', 'the rejected registry in upper case'),
    refusedSpelling('a.example.com/app', 'a subdomain of the *. wildcard'),
    refusedSpelling('b.a.example.com/app', 'a deeper subdomain of the *. wildcard'),
    refusedSpelling('A.EXAMPLE.COM/app', 'a subdomain in upper case'),
    refusedSpelling('quay.io/acme/app', 'inside the rejected namespace'),
    refusedSpelling('quay.io:443/acme/app', 'the rejected registry with its default https port spelt out'),
    refusedSpelling('quay.io./acme/app', 'the rejected registry as a fully qualified name (trailing dot)'),
    refusedSpelling('docker.io/library/busybox:latest', 'fully spelt out with the default tag'),
    boundary('localhost:5001/application', 'a longer name sharing the accepted prefix'),
    boundary('localhost:5001', 'the registry itself (no repository)'),
    boundary('localhost/app', 'the accepted repository without the port'),
    boundary('localhost:5002/app', 'the accepted repository on another port'),
    boundary('example.com/app', 'the apex of a *. wildcard'),
    boundary('evilexample.com/app', 'a name ending like the wildcard without the dot'),
    boundary('example.com.evil.io/app', 'the wildcard domain as a prefix of another'),
    boundary('quay.io/acmeevil/app', 'a namespace sharing the accepted prefix'),
    boundary('quay.io/acme-evil/app', 'a namespace with a dash'),
    {
      name: 'control: localhost:5001/app/sub (default reject)',
      attack: 'none: a repository inside the accepted namespace',
      expect: allow('POLICY_ACCEPT'),
      run: (ctx) => check('localhost:5001/app/sub', { policy: ctx.shared.refStrict }),
    },
  ],
};
