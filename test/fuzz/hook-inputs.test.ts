/**
 * Fuzzing the hook's own inputs: the OCI state on stdin (near what runc and crun send) and the
 * annotations. Only INVALID_STATE comes out of the parser; the triage before any registry work
 * lets a container through only as a sandbox or in an exempt namespace, never because an
 * annotation is odd.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReasonCode, SigguardError } from '../../src/errors.js';
import { Annotation, readContext } from '../../src/hook/annotations.js';
import { triage } from '../../src/hook/decide.js';
import { parseState } from '../../src/hook/state.js';
import type { Policy } from '../../src/policy/types.js';
import { TEST_TIMEOUT_MS, counted, expectOnly, jsonNear, jsonTextNear, params, thrown } from './fuzz-support.js';

const containerdState = {
  ociVersion: '1.2.0',
  id: '3f1c0d8e9b7a',
  status: 'created',
  pid: 4242,
  bundle: '/run/containerd/io.containerd.runtime.v2.task/k8s.io/3f1c0d8e9b7a',
  annotations: {
    [Annotation.CRI_CONTAINER_TYPE]: 'container',
    [Annotation.CRI_IMAGE_NAME]: 'localhost:5001/app:v1',
    [Annotation.CRI_SANDBOX_NAMESPACE]: 'default',
    [Annotation.CRI_SANDBOX_NAME]: 'web-7d4b9',
    [Annotation.CRI_CONTAINER_NAME]: 'app',
    [Annotation.CRI_SANDBOX_ID]: 'abc',
  },
};
const crioState = {
  ociVersion: '1.0.2-dev',
  id: 'c0ffee',
  status: 'created',
  pid: 1,
  bundle: '/var/run/containers/storage/overlay-containers/c0ffee/userdata',
  root: '/x',
  annotations: {
    [Annotation.CRIO_CONTAINER_TYPE]: 'container',
    [Annotation.CRIO_IMAGE]: 'sha256:' + 'ab'.repeat(32),
    [Annotation.CRIO_IMAGE_NAME]: 'quay.io/team/app:v1',
    [Annotation.CRIO_NAMESPACE]: 'kube-system',
    [Annotation.K8S_POD_NAME]: 'p',
  },
};

const policy: Policy = {
  source: 'fuzz',
  mode: 'enforce',
  default: 'reject',
  exemptNamespaces: ['kube-system'],
  tagResolution: 'never',
  nonKubernetes: 'verify',
  scopes: new Map(),
  warnings: [],
} as unknown as Policy;

const isStateError = (e: unknown) => e instanceof SigguardError && e.code === ReasonCode.INVALID_STATE && !/\n/.test(e.message);

describe('fuzz: the hook inputs', () => {
  it(
    'parseState: a state or INVALID_STATE',
    () => {
      fc.assert(
        fc.property(
          jsonTextNear(containerdState, crioState),
          counted('hook.state', (text) => {
            let state: ReturnType<typeof parseState> | undefined;
            expectOnly(
              thrown(() => (state = parseState(text))),
              isStateError,
              'INVALID_STATE',
            );
            if (!state) return;
            expect(state.bundle.startsWith('/')).toBe(true);
            expect(state.id.length).toBeGreaterThan(0);
            if (state.annotations) for (const v of Object.values(state.annotations)) expect(typeof v).toBe('string');
          }),
        ),
        params(2),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'annotations: triage lets a container through only as a sandbox or in an exempt namespace',
    () => {
      fc.assert(
        fc.property(
          jsonNear(containerdState.annotations, crioState.annotations, {}),
          counted('hook.annotations', (raw) => {
            // what parseState lets through: a record of strings
            if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return;
            const a = Object.fromEntries(Object.entries(raw).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
            const ctx = readContext(a);
            const t = triage(ctx, policy);
            if (t.action === 'allow') {
              const sandbox =
                a[Annotation.CRI_CONTAINER_TYPE] === 'sandbox' ||
                (a[Annotation.CRI_CONTAINER_TYPE] === undefined && a[Annotation.CRIO_CONTAINER_TYPE] === 'sandbox');
              const ns = ctx.namespace;
              expect(sandbox || (ns !== undefined && policy.exemptNamespaces.includes(ns)), JSON.stringify(a)).toBe(true);
              expect([ReasonCode.SANDBOX_CONTAINER, ReasonCode.EXEMPT_NAMESPACE]).toContain(t.code);
            } else if (t.action === 'deny') {
              expect(t.reason.length).toBeGreaterThan(0);
            } else {
              expect(t.image.length).toBeGreaterThan(0);
            }
          }),
        ),
        params(2),
      );
    },
    TEST_TIMEOUT_MS,
  );
});
