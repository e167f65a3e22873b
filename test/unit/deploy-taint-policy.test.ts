/**
 * deploy/base/taint-policy.yaml, offline: the ValidatingAdmissionPolicy that narrows the agent's
 * `patch nodes` to taking the registration taint off its own node. Its CEL (match condition,
 * variables, validations) evaluated with @marcbachmann/cel-js on the admission requests an agent —
 * or a thief of its token — could send: only the agent's own patch (the taint removed from the
 * node its token is bound to) passes; another node, another taint, a taint added or changed, a
 * label, an annotation, cordoning, the status subresource, a delete are refused. Another user is
 * not matched (the policy is the agent's only). The schema itself: deploy.test.ts
 * (kubernetes-models).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluate } from '@marcbachmann/cel-js';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/paths.js';

interface Policy {
  kind: string;
  spec: {
    matchConstraints: { resourceRules: Array<{ resources: string[]; operations: string[] }> };
    matchConditions: Array<{ expression: string }>;
    variables: Array<{ name: string; expression: string }>;
    validations: Array<{ expression: string; message: string; reason?: string }>;
  };
}
interface Binding {
  kind: string;
  spec: { policyName: string; validationActions: string[] };
}

const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/base/taint-policy.yaml'), 'utf8')).map((d) => d.toJS() as Policy | Binding);
const policy = docs.find((d) => d.kind === 'ValidatingAdmissionPolicy') as Policy;
const binding = docs.find((d) => d.kind === 'ValidatingAdmissionPolicyBinding') as Binding;

const AGENT = 'system:serviceaccount:sigguard-system:sigguard';
const OURS = { key: 'sigguard.dev/not-ready', effect: 'NoSchedule' };
const KUBELETS = { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' };
const GPU = { key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' };

const oldNode = () => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: {
    name: 'node-1',
    labels: { 'kubernetes.io/hostname': 'node-1' } as Record<string, string>,
    annotations: { 'node.alpha.kubernetes.io/ttl': '0' } as Record<string, string>,
  },
  spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'], providerID: 'kind://docker/kind/node-1', taints: [KUBELETS, OURS, GPU] },
});
type NodeObj = ReturnType<typeof oldNode>;

interface Req {
  username?: string;
  nodeName?: string | null;
  operation?: string;
  subResource?: string;
  change?: (n: NodeObj) => void;
}

/** The policy's verdict on one request: 'not matched', 'allowed', or the first refusing validation's message. */
function admit(r: Req): string {
  const oldObject = oldNode();
  const object = structuredClone(oldObject) as NodeObj;
  r.change?.(object);
  const extra = r.nodeName === null ? undefined : { 'authentication.kubernetes.io/node-name': [r.nodeName ?? 'node-1'] };
  const request = {
    operation: r.operation ?? 'UPDATE',
    subResource: r.subResource ?? '',
    userInfo: { username: r.username ?? AGENT, ...(extra ? { extra } : {}) },
  };
  const ctx: Record<string, unknown> = { request, object, oldObject };
  if (!policy.spec.matchConditions.every((m) => evaluate(m.expression, ctx) === true)) return 'not matched';
  const variables: Record<string, unknown> = {};
  for (const v of policy.spec.variables) variables[v.name] = evaluate(v.expression, { ...ctx, variables });
  for (const v of policy.spec.validations) {
    let ok: unknown;
    try {
      ok = evaluate(v.expression, { ...ctx, variables });
    } catch {
      ok = false; // an error under failurePolicy Fail refuses
    }
    if (ok !== true) return v.message;
  }
  return 'allowed';
}

const removeOurs = (n: NodeObj) => {
  n.spec.taints = n.spec.taints.filter((t) => t.key !== OURS.key);
};

describe('deploy/base/taint-policy.yaml: what the agent’s service account may do to a Node', () => {
  it('is bound to deny, matches nodes (every operation and subresource), and applies to the agent’s service account only', () => {
    expect(binding.spec).toEqual({ policyName: 'sigguard-agent-node-taint', validationActions: ['Deny'] });
    // a refusal answers 403, not the default 422 the agent takes for its JSON patch's failed test (a conflict, retried at once)
    for (const v of policy.spec.validations) expect(v.reason, v.message).toBe('Forbidden');
    expect(policy.spec.matchConstraints.resourceRules).toEqual([
      expect.objectContaining({ resources: ['nodes', 'nodes/*'], operations: ['*'] }),
    ]);
    expect(admit({ username: 'system:node:node-1', change: (n) => (n.spec.taints = []) })).toBe('not matched');
    expect(admit({ username: 'system:serviceaccount:other:sigguard', change: (n) => (n.spec.taints = []) })).toBe('not matched');
  });

  it('allows the agent’s own patch: the registration taint off the node its token is bound to, nothing else changed', () => {
    expect(admit({ change: removeOurs })).toBe('allowed');
    expect(admit({})).toBe('allowed'); // a no-op update changes nothing
    expect(admit({ change: (n) => n.spec.taints.splice(1, 1) })).toBe('allowed'); // the agent's JSON patch: remove at its index
  });

  it('refuses every other change a stolen token could try', () => {
    const own = 'the sigguard agent may change only the node its token is bound to';
    const taintOnly = 'the sigguard agent may only remove the taint sigguard.dev/not-ready';
    const meta = "the sigguard agent may not change a Node's labels, annotations, owners or finalizers";
    const spec = "the sigguard agent may change no field of a Node's spec but its taints";
    expect(admit({ nodeName: 'node-2', change: removeOurs })).toBe(own);
    expect(admit({ nodeName: null, change: removeOurs })).toBe(own); // a token without node binding
    expect(admit({ change: (n) => (n.spec.taints = [OURS]) })).toBe(taintOnly); // others' taints removed
    expect(admit({ change: (n) => (n.spec.taints = [KUBELETS, GPU].slice(0, 1)) })).toBe(taintOnly);
    expect(admit({ change: (n) => n.spec.taints.push({ key: 'evil', effect: 'NoExecute' }) })).toBe(taintOnly); // added
    expect(admit({ change: (n) => (n.spec.taints = [KUBELETS, { ...OURS, effect: 'NoExecute' }, GPU]) })).toBe(taintOnly); // changed
    expect(admit({ change: (n) => (n.spec.taints = [KUBELETS, GPU, { key: OURS.key, effect: 'NoExecute' }]) })).toBe(taintOnly);
    expect(admit({ change: (n) => (n.metadata.labels['node-role.kubernetes.io/control-plane'] = '') })).toBe(meta);
    expect(
      admit({
        change: (n) => {
          removeOurs(n);
          n.metadata.annotations.x = 'y';
        },
      }),
    ).toBe(meta);
    expect(admit({ change: (n) => delete (n.metadata as { labels?: unknown }).labels })).toBe(meta);
    expect(admit({ change: (n) => Object.assign(n.spec, { unschedulable: true }) })).toBe(spec); // cordon
    expect(admit({ change: (n) => (n.spec.podCIDR = '10.0.0.0/8') })).toBe(spec);
    expect(admit({ change: (n) => (n.spec.providerID = 'x') })).toBe(spec);
    expect(admit({ subResource: 'status', change: removeOurs })).toBe('the sigguard agent may only update a Node');
    expect(admit({ operation: 'DELETE' })).toBe('the sigguard agent may only update a Node');
    expect(admit({ operation: 'CREATE' })).toBe('the sigguard agent may only update a Node');
  });

  it('compares every field of a Node’s spec but its taints (each field kubernetes-models’ NodeSpec has; a new one fails here)', () => {
    const dts = readFileSync(join(ROOT, 'node_modules/kubernetes-models/v1/NodeSpec.d.ts'), 'utf8');
    const body = dts.slice(dts.indexOf('export interface INodeSpec {'), dts.indexOf('\n}', dts.indexOf('export interface INodeSpec {')));
    const fields = [...body.matchAll(/^\s+"(\w+)"\?:/gm)].map((m) => m[1] as string);
    expect(fields).toContain('taints');
    const changed: Record<string, unknown> = {
      configSource: { configMap: { name: 'evil', namespace: 'kube-system', kubeletConfigKey: 'kubelet' } },
      externalID: 'evil',
      podCIDR: '10.0.0.0/8',
      podCIDRs: ['10.0.0.0/8'],
      providerID: 'evil://x',
      unschedulable: true,
    };
    for (const f of fields.filter((x) => x !== 'taints')) {
      expect(Object.keys(changed), `a changed value for spec.${f}: compare it in taint-policy.yaml too`).toContain(f);
      expect(admit({ change: (n) => Object.assign(n.spec, { [f]: changed[f] }) }), f).toBe(
        "the sigguard agent may change no field of a Node's spec but its taints",
      );
    }
  });
});
