/**
 * A local containerd 2.1 node laid out like a Kind node, booted "with systemd" (its
 * /run/systemd/system), for install/install.sh run as `docker exec NODE` runs it: SIGGUARD_ROOT the
 * node's folder, PATH led by the node's stand-ins (e2e/kind/standins/node: systemctl, whose
 * verifier service runs the unit's ExecStart). In /src on the node: the built executable, a public
 * key (/src/keys) and a policy naming it for localhost:5001. No pod runs: the sandbox image is only
 * named, the registry never asked, and the tests give install.sh `--restart true`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Run, run } from '../cli.js';
import { ROOT, requireTools } from '../paths.js';
import { type ContainerdNode, containerdBins, launch, prepareNode, stopNode } from './containerd-node.js';
import { type StandinVerifier, standinVerifier } from './standin-verifier.js';

const ARCH = process.arch === 'x64' ? 'amd64' : process.arch;
export const STANDIN_SYSTEMCTL = join(ROOT, 'e2e/kind/standins/node/systemctl');
export const BUILT = join(ROOT, `build/out/sigguard-linux-${ARCH}`);
export const UNIT = '/etc/systemd/system/sigguard-verifier.service';

export interface InstallNode {
  /** The node's root folder. */
  root: string;
  /** A folder beside it, for the tests' own files (wrappers in front of the stand-ins). */
  outside: string;
  node: ContainerdNode;
  /** A node path under the root. */
  at(path: string): string;
  verifier: StandinVerifier;
  /** install.sh with these arguments; `pathFirst`: a folder of wrappers put before the stand-ins. */
  installSh(args: string[], pathFirst?: string): Promise<Run>;
  stop(): Promise<void>;
}

/** install.sh's arguments for the files in /src, containerd not restarted. */
export const installArgs = (policy = '/src/policy.yaml') => [
  '--binary',
  '/src/sigguard',
  '--policy',
  policy,
  '--keys',
  '/src/keys',
  '--restart',
  'true',
  '--wait',
  '10',
];

/** install.sh's own one-line errors in a run's stderr. */
export const ownLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('install.sh:'));

export async function startInstallNode(prefix: string): Promise<InstallNode> {
  requireTools(BUILT, STANDIN_SYSTEMCTL, ...Object.values(containerdBins('2.1')).slice(1));
  const root = mkdtempSync(`/tmp/${prefix}-`); // short: the socket path must fit a sockaddr_un
  const outside = mkdtempSync(`/tmp/${prefix}-out-`);
  const at = (p: string) => join(root, p);
  const node = await prepareNode({
    version: '2.1',
    registryHost: '127.0.0.1:9',
    aliasHost: 'localhost:5001',
    dir: root,
    layout: 'kind',
    sandboxImage: 'registry.k8s.io/pause:3.10',
  });
  mkdirSync(at('/run/systemd/system'), { recursive: true }); // booted with systemd, as a Kind node is
  mkdirSync(at('/src/keys'), { recursive: true });
  copyFileSync(BUILT, at('/src/sigguard'));
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(at('/src/keys/cosign.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(
    at('/src/policy.yaml'),
    `version: 1
mode: enforce
default: reject
scopes:
  "localhost:5001":
    - type: sigstoreSigned
      keyPath: ${at('/etc/sigguard/keys/cosign.pub')}
      signedIdentity: { type: matchRepository }
`,
  );
  await launch(node);
  const verifier = standinVerifier(() => root);
  return {
    root,
    outside,
    node,
    at,
    verifier,
    installSh: (args, pathFirst) =>
      run('bash', [join(ROOT, 'install/install.sh'), ...args], {
        env: {
          PATH: `${pathFirst ? `${pathFirst}:` : ''}${join(ROOT, 'e2e/kind/standins/node')}:${containerdBins('2.1').dir}:${process.env.PATH}`,
          SIGGUARD_ROOT: root,
        },
        timeoutMs: 120_000,
      }),
    stop: async () => {
      verifier.kill();
      await stopNode(node);
      if (!process.env.SIGGUARD_KEEP_NODE) rmSync(root, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    },
  };
}
