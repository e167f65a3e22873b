/**
 * sigguard's entry point. Every command ends in an exit code: 0 allowed (or
 * done), 1 denied, 2 usage or configuration error. Errors are one line on
 * stderr, prefixed `sigguard:`.
 */
import { ExitCode, ReasonCode, SigguardError, oneLine, toSigguardError } from '../errors.js';
import { mark } from '../trace.js';
import { VERSION_INFO } from '../version.js';
import type * as TrustCommands from './trust.js';

const HELP = `sigguard: runtime signature verification for containers

usage:
  sigguard check IMAGE [--policy FILE] [--config FILE] [--deadline SECONDS] [--explain] [--json] [--cache [--cache-dir DIR]]
  sigguard hook [--config FILE] [--policy FILE] [--log FILE] [--deadline SECONDS] [--agent SOCKET]   (OCI state on stdin)
  sigguard install-hook (--base-spec FILE | --hooks-dir DIR) [--uninstall] [--path BIN] [-- HOOK FLAGS...]
  sigguard install-node --containerd-config FILE [--uninstall | --check] [--spec-dir DIR] [--state FILE] [--path BIN] [--containerd BIN] [--drop-in FILE] [-- HOOK FLAGS...]
  sigguard agent [--runtime containerd|crio] [--containerd-config FILE] [--source DIR]... [--etc DIR] [--install-path FILE] [--restart systemd[:UNIT]|signal[:SIG]|command:ARGV|none] [--remove-taint KEY[:EFFECT]] [--state-dir DIR] [--host-root DIR] [--listen ADDR] [--hook-socket FILE] [--once | --uninstall]
  sigguard verifier [--socket FILE] [--config FILE] [--policy FILE]
  sigguard metrics --log FILE [--listen ADDR]
  sigguard cache list | clear [--digest D] [--config FILE]
  sigguard cache prime [--policy FILE] [--config FILE]
  sigguard verify-bundle --bundle FILE (--key FILE | --certificate-identity ID --certificate-oidc-issuer URL) [--trusted-root FILE] FILE|sha256:HEX
  sigguard crio-policy --policy FILE --out DIR [--containers-image-version X.Y] [--hook-fallback] [--target-dir DIR] [--key-dir DIR]
  sigguard policy validate FILE [--config FILE]
  sigguard trust update [--mirror URL | --from DIR] [--root FILE] [--target NAME] [--out FILE] [--timeout SECONDS] [--config FILE]
  sigguard trust status [--out FILE] [--config FILE]
  sigguard version
  sigguard help

exit codes: 0 allowed, 1 denied (including "could not verify"), 2 usage or configuration error`;

async function dispatch(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'check':
      return (await import('./check.js')).runCheck(rest);
    case 'hook':
      // process.stdin builds a stream when first touched: only if fd 0 is non-blocking
      return (await import('./hook.js')).runHook(rest, () => process.stdin);
    case 'cache':
      return (await import('./cache.js')).runCache(rest);
    case 'install-node':
      return (await import('./install-node.js')).runInstallNode(rest);
    case 'agent':
      return (await (await import('./agent-loader.js')).loadAgent()).runAgent(rest);
    case 'verifier':
      return (await (await import('./agent-loader.js')).loadAgent()).runVerifier(rest);
    case 'metrics':
      return (await (await import('./agent-loader.js')).loadAgent()).runMetrics(rest);
    case 'install-hook':
      return (await import('./install-hook.js')).runInstallHook(rest);
    case 'verify-bundle':
      return (await import('./verify-bundle.js')).runVerifyBundle(rest);
    case 'crio-policy':
      return (await import('./crio-policy.js')).runCrioPolicy(rest);
    case 'policy':
      if (rest[0] === 'validate') return (await import('./policy-validate.js')).runPolicyValidate(rest.slice(1));
      throw new SigguardError(ReasonCode.USAGE, `unknown policy command "${rest[0] ?? ''}" (try: policy validate FILE)`);
    case 'trust':
      // a bundle of its own (build/bundle.mjs): the TUF client is never parsed by the hook
      return (await (await import('./agent-loader.js')).loadBundle<typeof TrustCommands>('sigguard-trust.cjs')).runTrust(rest);
    case 'version':
    case '--version':
      process.stdout.write(`sigguard ${VERSION_INFO.version} (commit ${VERSION_INFO.commit}, node ${process.version})\n`);
      return 0;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${HELP}\n`);
      return 0;
    case undefined:
      throw new SigguardError(ReasonCode.USAGE, 'no command given (see sigguard help)');
    default:
      throw new SigguardError(ReasonCode.USAGE, `unknown command "${command}" (see sigguard help)`);
  }
}

function exitCodeFor(err: SigguardError): number {
  switch (err.code) {
    case ReasonCode.USAGE:
    case ReasonCode.POLICY_INVALID:
    case ReasonCode.CONFIG_INVALID:
      return ExitCode.USAGE_OR_CONFIG;
    default:
      return ExitCode.DENY;
  }
}

export async function main(argv: string[]): Promise<number> {
  mark('main');
  try {
    return await dispatch(argv);
  } catch (err) {
    const e = toSigguardError(err);
    process.stderr.write(`sigguard: ${oneLine(e.message)} [${e.code}]\n`);
    return exitCodeFor(e);
  }
}

// process.stdout is made when first touched (Node's stream machinery: ~2 ms and two dozen
// modules): a command that printed nothing, as the hook, exits without making it to flush it.
let stdoutUsed = false;
const stdoutProperty = Object.getOwnPropertyDescriptor(process, 'stdout');
if (stdoutProperty?.get && stdoutProperty.configurable) {
  const get = stdoutProperty.get;
  Object.defineProperty(process, 'stdout', {
    ...stdoutProperty,
    get() {
      stdoutUsed = true;
      return get.call(process);
    },
  });
} else {
  stdoutUsed = true;
}

// Exit at once: a hook must not linger on sockets a deadline abandoned. A pipe whose reader
// is slower than us still gets what was written to stdout (a large `check --json --explain`
// was cut at ~140 KiB): exit once it is flushed, or after a second at most.
function exitAfterStdout(code: number): void {
  if (!stdoutUsed) process.exit(code);
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1000).unref();
  process.stdout.write('', () => process.exit(code));
}

main(process.argv.slice(2)).then(
  (code) => {
    exitAfterStdout(code);
  },
  (err: unknown) => {
    process.stderr.write(`sigguard: internal error: ${oneLine(String(err))}\n`);
    process.exit(ExitCode.DENY);
  },
);
