/**
 * Where each generated file lands: its name in the --out folder, and where
 * crio-policy/scripts/configure-crio.sh installs it on the node. The
 * crio.conf.d drop-in names the node paths, so they are fixed here, once.
 */
export const OUT = {
  policyJson: 'policy.json',
  namespacePolicies: 'policies',
  registriesD: 'registries.d/sigguard.yaml',
  crioConf: 'crio.conf.d/10-sigguard.conf',
  hooksD: 'hooks.d/sigguard.json',
  notes: 'NOTES.txt',
  readme: 'README.md',
} as const;

/** The top-level entries the generator owns in --out (and replaces on every run). */
export const OUT_ENTRIES = ['policy.json', 'policies', 'registries.d', 'crio.conf.d', 'hooks.d', 'NOTES.txt', 'README.md'] as const;

export const NODE = {
  /** crio.conf [crio.image] signature_policy */
  policyJson: '/etc/crio/sigguard/policy.json',
  /** crio.conf [crio.image] signature_policy_dir (CRI-O 1.28+): <namespace>.json per exempt namespace */
  namespacePolicies: '/etc/crio/sigguard/policies',
  /** containers-registries.d(5), the system folder containers/image reads */
  registriesD: '/etc/containers/registries.d/sigguard.yaml',
  /** CRI-O reads /etc/crio/crio.conf.d/*.conf in lexical order after crio.conf; a later file wins */
  crioConf: '/etc/crio/crio.conf.d/10-sigguard.conf',
  /** CRI-O's default hooks_dir (oci-hooks(5)) */
  hooksD: '/usr/share/containers/oci/hooks.d/sigguard.json',
} as const;
