/** Embedded SCTs (certificate transparency), where a policy does not require them. */
import type { X509Certificate as CoreX509 } from '@sigstore/core';

const OID_SCT_LIST = '1.3.6.1.4.1.11129.2.4.2';

/**
 * A view of the leaf whose copy has no SCT extension: the library verifies every SCT a
 * certificate embeds (against the trusted CT logs) and offers no way to skip that, and it
 * makes that copy only to verify SCTs. Used when SCTs are not required.
 */
export function withoutSCTs(cert: CoreX509): CoreX509 {
  const view = Object.assign(Object.create(Object.getPrototypeOf(cert) as object) as CoreX509, cert);
  view.clone = () => {
    const copy = cert.clone();
    const i = copy.extensions.findIndex((ext) => ext.subs[0]?.toOID() === OID_SCT_LIST);
    if (i >= 0) copy.extensions.splice(i, 1);
    return copy;
  };
  return view;
}
