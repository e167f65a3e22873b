/**
 * What the hook and the node's agent say to each other over the agent's unix socket
 * (src/hook/ask-agent.ts, src/agent/verify-server.ts): one request line, one answer line, JSON.
 *
 *   hook → agent  {"v":1,"state":"<the OCI state as read>","config":"<--config>"?,"policy":"<--policy>","until":<ms epoch: the hook's deadline less the single flight's grace>}
 *   agent → hook  {"v":1,"allow":{<the outcome>},"trustRoot":"…"?,"unaskedRuntime":"<socket>"?}   an allow, decided as the hook would
 *                 {"v":1,"decline":"<why>"}                          anything else: the hook decides itself
 *
 * The agent answers only allows: a deny, an error or documents other than its own, and the hook
 * decides in its own process, as without an agent (a deny found from the agent's side of the node
 * is never what refuses a start). Both sides parse with these schemas and limits.
 */
import { type Infer, integer, literal, object, optional, string } from '../schema/lite.js';
import { MAX_STATE_BYTES } from './state.js';

export const AGENT_PROTOCOL = 1;
/** A request: the state (at most MAX_STATE_BYTES, JSON-escaped: up to 6 bytes a byte) and two paths. */
export const MAX_REQUEST_BYTES = 6 * MAX_STATE_BYTES + 64 * 1024;
export const MAX_ANSWER_BYTES = 64 * 1024;
const PATH_MAX = 4096;
const TEXT_MAX = 16 * 1024;

export const agentRequestSchema = object(
  {
    v: integer({ min: AGENT_PROTOCOL }),
    state: string({ min: 1, max: 6 * MAX_STATE_BYTES }),
    config: optional(string({ min: 1, max: PATH_MAX })),
    policy: string({ min: 1, max: PATH_MAX }),
    until: integer({ min: 0 }),
  },
  { strict: true },
);
export type AgentRequest = Infer<typeof agentRequestSchema>;

const text = (max = TEXT_MAX) => string({ min: 1, max });
const digest = () => string({ pattern: /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/ });
const allowSchema = object(
  {
    decision: literal('allow'),
    code: text(128),
    reason: text(),
    detailCode: optional(text(128)),
    image: optional(text()),
    digest: optional(digest()),
    scope: optional(text()),
    signer: optional(text()),
    cache: optional(literal('hit', 'miss', 'stale')),
    configDigest: optional(digest()),
  },
  { strict: true },
);
export const agentAnswerSchema = object(
  {
    v: integer({ min: AGENT_PROTOCOL }),
    allow: optional(allowSchema),
    trustRoot: optional(text()),
    /** The runtime socket the agent found nothing at (its lookup fell back to the annotation): see ask-agent.ts. */
    unaskedRuntime: optional(text(4096)),
    decline: optional(text()),
  },
  { strict: true },
);
export type AgentAnswer = Infer<typeof agentAnswerSchema>;
export type AgentAllow = NonNullable<AgentAnswer['allow']>;
