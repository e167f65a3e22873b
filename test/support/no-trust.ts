/** Trust material that trusts nothing: for bundles checked against a key given directly. */
import type { TrustMaterial } from '@sigstore/verify';

export const noTrust: TrustMaterial = {
  certificateAuthorities: [],
  timestampAuthorities: [],
  tlogs: [],
  ctlogs: [],
  publicKey: () => {
    throw new Error('no key');
  },
};
