/**
 * `sigguard agent --remove-taint KEY`: the node-join window closed without an operator. A node
 * registers with a taint (kubelet `--register-with-taints=sigguard.dev/not-ready=:NoSchedule`) that
 * keeps pods off it; the agent tolerates it, installs the hook, and once it is ready (hook in every
 * handler, runtime answering, policy valid) removes that one taint from its own Node through the
 * API server, with its pod's service account (the token and CA kubelet mounts, the
 * KUBERNETES_SERVICE_HOST/PORT of the pod's environment, the node's name from the downward API's
 * NODE_NAME).
 *
 * Only that taint goes: a JSON patch that tests the Node's resourceVersion and the taint at its
 * index, then removes that index; a concurrent change (kubelet, the node lifecycle controller)
 * makes the test fail (409/422) and the agent reads the Node again and retries. Every response is
 * parsed with a schema; each request is bounded (time, response size). deploy/base's
 * ValidatingAdmissionPolicy keeps a stolen token of the agent's from doing anything else with its
 * `patch nodes` right: its own node only, that taint only. The agent checks that it does before it
 * uses the token (`probe`): a dry run adding a taint must be refused; accepted, the policy is not in
 * force (Kubernetes before 1.30, the policy not applied, the service account renamed in an overlay)
 * and the token may change every node: the taint stays, and the error says why.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { ReasonCode, SigguardError } from '../errors.js';
import { z } from '../zod.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const MAX_RESPONSE = 8 << 20;

const usage = (m: string) => new SigguardError(ReasonCode.USAGE, m);

export interface TaintSpec {
  key: string;
  /** Only a taint with this effect; undefined: the key with any effect. */
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' | undefined;
}

const QUALIFIED = /^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

/** KEY or KEY:EFFECT (the taint's key is a qualified name, as Kubernetes spells one). */
export function parseTaint(spec: string): TaintSpec {
  const [key = '', effect, ...rest] = spec.split(':');
  if (!QUALIFIED.test(key) || rest.length > 0 || (effect !== undefined && !(EFFECTS as readonly string[]).includes(effect)))
    throw usage(`--remove-taint takes a taint key (e.g. sigguard.dev/not-ready) or KEY:EFFECT, not "${spec}"`);
  return { key, effect: effect as TaintSpec['effect'] };
}

export interface KubeAccess {
  host: string;
  port: number;
  tokenFile: string;
  ca: Buffer;
  nodeName: string;
}

/** The pod's in-cluster access: the API server from its environment, the service account's files, NODE_NAME. */
export function inClusterAccess(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): KubeAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = Number(env.KUBERNETES_SERVICE_PORT ?? '443');
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535)
    throw usage('--remove-taint needs the API server: KUBERNETES_SERVICE_HOST (and _PORT) are not set (not in a pod?)');
  const nodeName = env.NODE_NAME ?? '';
  if (!/^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/.test(nodeName))
    throw usage(`--remove-taint needs the node's name in NODE_NAME (the downward API's spec.nodeName), not "${nodeName}"`);
  let ca: Buffer;
  try {
    ca = readFileSync(`${dir}/ca.crt`);
  } catch (err) {
    throw usage(`--remove-taint needs the service account's ca.crt: ${(err as Error).message}`);
  }
  return { host: host.replace(/^\[(.*)\]$/, '$1'), port, tokenFile: `${dir}/token`, ca, nodeName };
}

const taintSchema = z.looseObject({ key: z.string(), value: z.string().optional(), effect: z.string() });
const nodeSchema = z.looseObject({
  kind: z.literal('Node'),
  metadata: z.looseObject({ name: z.string(), resourceVersion: z.string().min(1) }),
  spec: z.looseObject({ taints: z.array(taintSchema).optional() }).optional(),
});
type Node = z.infer<typeof nodeSchema>;
const statusSchema = z.looseObject({ kind: z.literal('Status'), message: z.string().optional(), reason: z.string().optional() });

interface Response {
  status: number;
  body: string;
}

function send(a: KubeAccess, method: 'GET' | 'PATCH', path: string, timeoutMs: number, body?: string): Promise<Response> {
  let token: string;
  try {
    token = readFileSync(a.tokenFile, 'utf8').trim(); // read each time: kubelet rotates projected tokens
  } catch (err) {
    return Promise.reject(new Error(`the service account token: ${(err as Error).message}`));
  }
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: a.host,
        port: a.port,
        method,
        path,
        ca: a.ca,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          'user-agent': 'sigguard-agent',
          ...(body === undefined ? {} : { 'content-type': 'application/json-patch+json', 'content-length': Buffer.byteLength(body) }),
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE) {
            req.destroy(new Error(`the API server's answer is larger than ${MAX_RESPONSE} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no answer from the API server within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', reject);
    req.on('close', () => clearTimeout(timer));
    req.end(body);
  });
}

function parse<T>(schema: z.ZodType<T>, r: Response, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(r.body);
  } catch {
    throw new Error(`${what}: HTTP ${r.status}, not JSON`);
  }
  const p = schema.safeParse(json);
  if (!p.success) throw new Error(`${what}: HTTP ${r.status}, not the expected object (${p.error.issues[0]?.message ?? 'invalid'})`);
  return p.data;
}

function refusal(r: Response, what: string): Error {
  let why = '';
  try {
    const s = statusSchema.safeParse(JSON.parse(r.body));
    if (s.success) why = `: ${(s.data.message ?? s.data.reason ?? '').slice(0, 300)}`;
  } catch {
    // not a Status
  }
  return new Error(`${what}: HTTP ${r.status}${why}`);
}

const matches = (t: { key: string; effect: string }, want: TaintSpec) =>
  t.key === want.key && (want.effect === undefined || t.effect === want.effect);

export type TaintResult = 'removed' | 'absent';

/** Is the token narrowed? A dry run of what the policy refuses (a taint added to this node) must be refused. */
async function probeAdmissionPolicy(a: KubeAccess, path: string, timeoutMs: number): Promise<void> {
  const probe = [{ op: 'add', path: '/spec/taints/-', value: { key: 'sigguard.dev/admission-probe', effect: 'NoSchedule' } }];
  const r = await send(a, 'PATCH', `${path}?dryRun=All`, timeoutMs, JSON.stringify(probe));
  if (r.status === 403) return;
  if (r.status === 200)
    throw new Error(
      `the API server accepted a dry run adding a taint to Node ${a.nodeName}: no ValidatingAdmissionPolicy narrows this service account's patch on nodes (deploy/base/taint-policy.yaml: Kubernetes 1.30 or later, the service account it names): taint left in place`,
    );
  throw refusal(r, `probing the admission policy on Node ${a.nodeName}`);
}

/**
 * Removes the taint `want` from the node `a.nodeName`: 'removed', or 'absent' (it was not there).
 * A conflict (the Node changed between the read and the patch) is retried up to `conflicts` times;
 * anything else throws a one-line error (the agent retries later, with backoff). `probe`: first
 * check that the admission policy narrows the token (probeAdmissionPolicy).
 */
export async function removeTaint(
  a: KubeAccess,
  want: TaintSpec,
  o: { timeoutMs?: number; conflicts?: number; probe?: boolean } = {},
): Promise<TaintResult> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const path = `/api/v1/nodes/${encodeURIComponent(a.nodeName)}`;
  for (let attempt = 0; ; attempt++) {
    const got = await send(a, 'GET', path, timeoutMs);
    if (got.status !== 200) throw refusal(got, `reading Node ${a.nodeName}`);
    const node: Node = parse(nodeSchema, got, `reading Node ${a.nodeName}`);
    if (node.metadata.name !== a.nodeName) throw new Error(`the API server answered Node ${node.metadata.name} for ${a.nodeName}`);
    const taints = node.spec?.taints ?? [];
    const i = taints.findIndex((t) => matches(t, want));
    if (i < 0) return 'absent';
    if (o.probe && attempt === 0) await probeAdmissionPolicy(a, path, timeoutMs);
    const patch = JSON.stringify([
      { op: 'test', path: '/metadata/resourceVersion', value: node.metadata.resourceVersion },
      { op: 'test', path: `/spec/taints/${i}`, value: taints[i] },
      { op: 'remove', path: `/spec/taints/${i}` },
    ]);
    const put = await send(a, 'PATCH', path, timeoutMs, patch);
    if (put.status === 409 || put.status === 422) {
      // the Node changed since it was read (or the test found another taint there): read it again
      if (attempt < (o.conflicts ?? 5)) {
        await new Promise((r) => setTimeout(r, 100 + Math.floor(Math.random() * 200)));
        continue;
      }
      throw refusal(put, `removing taint ${want.key} from Node ${a.nodeName} (still conflicting after ${attempt + 1} tries)`);
    }
    if (put.status !== 200) throw refusal(put, `removing taint ${want.key} from Node ${a.nodeName}`);
    const after = parse(nodeSchema, put, `removing taint ${want.key} from Node ${a.nodeName}`);
    if ((after.spec?.taints ?? []).some((t) => matches(t, want)))
      throw new Error(`Node ${a.nodeName} still has taint ${want.key} after the patch was accepted`);
    return 'removed';
  }
}
