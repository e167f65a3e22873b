/**
 * `sigguard verify-bundle`: one Sigstore bundle over one artifact, as the
 * sigstore-conformance suite drives a client (its CLI_PROTOCOL.md):
 *
 *   verify-bundle [--staging] --bundle FILE --certificate-identity ID --certificate-oidc-issuer URL [--trusted-root FILE] FILE_OR_DIGEST
 *   verify-bundle [--staging] --bundle FILE --key PEM_FILE [--trusted-root FILE] FILE_OR_DIGEST
 *
 * FILE_OR_DIGEST is `sha256:<64 hex>` unless that is not the form or a file
 * of that name exists. Without --trusted-root, the public-good root built into
 * the binary. Exit 0 verified, 1 not verified (reason on stderr), 2 usage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ExitCode, ReasonCode, SigguardError, oneLine } from '../errors.js';
import { type TrustedKey, parsePublicKey } from '../policy/keys.js';
import { type LoadedTrust, TrustedRootError, loadTrust } from '../verify/trusted-root.js';
import { type BundleArtifact, type BundleExpectation, verifyBundle } from '../verify/verifier.js';
import { parse } from '../args.js';

const DIGEST = /^sha256:[0-9a-fA-F]{64}$/;

function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SigguardError(
      ReasonCode.USAGE,
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

export async function runVerifyBundle(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      staging: { type: 'boolean' },
      bundle: { type: 'string' },
      'certificate-identity': { type: 'string' },
      'certificate-oidc-issuer': { type: 'string' },
      key: { type: 'string' },
      'trusted-root': { type: 'string' },
    },
    'verify-bundle',
  );
  if (positionals.length !== 1)
    throw new SigguardError(ReasonCode.USAGE, 'verify-bundle takes exactly one FILE or sha256:DIGEST (see sigguard help)');
  if (values.bundle === undefined) throw new SigguardError(ReasonCode.USAGE, 'verify-bundle needs --bundle FILE');
  const identity = values['certificate-identity'];
  const issuer = values['certificate-oidc-issuer'];
  let expect: BundleExpectation;
  if (values.key !== undefined) {
    if (identity !== undefined || issuer !== undefined)
      throw new SigguardError(ReasonCode.USAGE, 'verify-bundle takes --key or --certificate-identity/--certificate-oidc-issuer, not both');
    let key: TrustedKey;
    try {
      key = parsePublicKey(readInput(values.key, 'key'), values.key);
    } catch (err) {
      if (err instanceof SigguardError) throw err;
      throw new SigguardError(ReasonCode.USAGE, `--key ${(err as Error).message}`);
    }
    expect = { publicKey: key.key };
  } else {
    if (identity === undefined || issuer === undefined) {
      throw new SigguardError(
        ReasonCode.USAGE,
        'verify-bundle needs --key FILE, or both --certificate-identity and --certificate-oidc-issuer',
      );
    }
    expect = { identity, issuer };
  }
  if (values.staging && values['trusted-root'] === undefined) {
    throw new SigguardError(ReasonCode.USAGE, 'verify-bundle --staging needs --trusted-root FILE (only the public-good root is built in)');
  }
  const target = positionals[0]!;
  const artifact: BundleArtifact =
    DIGEST.test(target) && !existsSync(target) ? { digest: target.toLowerCase() } : { bytes: readInput(target, 'artifact') };
  const bundleJson = readInput(values.bundle, 'bundle');
  let trust: LoadedTrust;
  try {
    trust = loadTrust(values['trusted-root']);
  } catch (err) {
    if (err instanceof TrustedRootError) throw new SigguardError(ReasonCode.CONFIG_INVALID, err.message);
    throw err;
  }
  const result = await verifyBundle({ bundleJson, artifact, trust: trust.trust, expect });
  if (!result.ok) {
    const set = trust.untrusted.length > 0 ? ` (trusted root ${trust.source}: untrusted ${trust.untrusted.join(', ')})` : '';
    process.stderr.write(`sigguard: bundle not verified: ${oneLine(result.reason)}${set}\n`);
    return ExitCode.DENY;
  }
  const by = result.signer.type === 'key' ? `key ${result.signer.keyId}` : `${result.signer.identity} (issuer ${result.signer.issuer})`;
  process.stdout.write(`verified: ${result.content} bundle (${result.mediaType}) signed by ${by}\n`);
  return ExitCode.ALLOW;
}
