/** Where the hook looks for things on a node, unless its flags say otherwise. */
export const HOOK_DEFAULTS = {
  config: '/etc/sigguard/config.yaml',
  policy: '/etc/sigguard/policy.yaml',
  log: '/var/log/sigguard/decisions.log',
  deadlineSeconds: 8,
};
