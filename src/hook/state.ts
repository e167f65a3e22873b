/**
 * The OCI runtime state a hook receives on stdin (runtime-spec "State"),
 * schema-checked but tolerant of what runtimes add (crun: "status":
 * "created" and "root"). Annotations come from the state, or from the
 * bundle's config.json where the state has none.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { ReasonCode, SigguardError } from '../errors.js';
import { type Infer, integer, object, optional, record, string } from '../schema/lite.js';

export const MAX_STATE_BYTES = 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

// The lite schema, not zod: this is parsed on every container start (see schema/lite.ts).
const annotationsSchema = record(string());

export const stateSchema = object({
  ociVersion: string(),
  id: string({ min: 1, max: 1024 }),
  status: string(),
  pid: optional(integer({ min: 0 })),
  bundle: string({ min: 1 }),
  annotations: optional(annotationsSchema),
});
export type OciState = Infer<typeof stateSchema>;

const bundleConfigSchema = object({ annotations: optional(annotationsSchema) });

function invalid(message: string): SigguardError {
  return new SigguardError(ReasonCode.INVALID_STATE, message);
}

/** Parses the state JSON text. */
export function parseState(text: string): OciState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid(`the OCI state on stdin is not JSON (${text.length === 0 ? 'empty' : `${text.length} bytes`})`);
  }
  const parsed = stateSchema.parse(json);
  if (!parsed.ok) throw invalid(`the OCI state on stdin is invalid: ${parsed.path}: ${parsed.message}`);
  if (!isAbsolute(parsed.value.bundle)) throw invalid(`the OCI state's bundle "${parsed.value.bundle}" is not an absolute path`);
  return parsed.value;
}

/**
 * Reads at most `max` bytes of a regular file. Opened non-blocking and checked with fstat
 * before any read, so a FIFO nobody writes, a device (/dev/zero) or a huge file named by the
 * bundle cannot hang the hook or exhaust its memory.
 */
function readRegularFile(file: string, max: number): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw invalid(`${file} is not a regular file`);
    if (st.size > max) throw invalid(`${file} is larger than ${max} bytes`);
    let buf = Buffer.allocUnsafe(Math.min(st.size, max) + 1);
    let size = 0;
    for (;;) {
      if (size === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(Math.min(buf.length, max + 1 - buf.length))]);
      const n = readSync(fd, buf, size, buf.length - size, null);
      if (n === 0) break;
      size += n;
      if (size > max) throw invalid(`${file} is larger than ${max} bytes`);
    }
    return buf.subarray(0, size);
  } finally {
    closeSync(fd);
  }
}

/** The container's annotations: the state's, else those of <bundle>/config.json. */
export function readAnnotations(state: OciState): Record<string, string> {
  if (state.annotations !== undefined && Object.keys(state.annotations).length > 0) return state.annotations;
  const file = join(state.bundle, 'config.json');
  let text: string;
  try {
    text = readRegularFile(file, MAX_CONFIG_BYTES).toString('utf8');
  } catch (err) {
    if (err instanceof SigguardError) throw err;
    throw invalid(`the OCI state has no annotations and ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid(`${file} is not JSON`);
  }
  const parsed = bundleConfigSchema.parse(json);
  if (!parsed.ok) throw invalid(`${file} has malformed annotations`);
  return parsed.value.annotations ?? {};
}

/**
 * Reads all of stdin (fd 0) synchronously, refusing more than `max` bytes. Runtimes hand a
 * hook a blocking pipe or file; creating process.stdin would load the stream machinery on
 * every container start. A non-blocking descriptor (EAGAIN) falls back to the stream.
 */
export async function readStdin(stream: () => NodeJS.ReadableStream, max = MAX_STATE_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const buf = Buffer.allocUnsafe(64 * 1024);
  try {
    for (;;) {
      const n = readSync(0, buf, 0, buf.length, null);
      if (n === 0) break;
      size += n;
      if (size > max) throw invalid(`the OCI state on stdin is larger than ${max} bytes`);
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
      if (err instanceof SigguardError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'EOF') return Buffer.concat(chunks).toString('utf8');
      throw invalid(`cannot read the OCI state on stdin (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  }
  return readStream(stream(), max, chunks, size);
}

async function readStream(stream: NodeJS.ReadableStream, max: number, chunks: Buffer[], already: number): Promise<string> {
  let size = already;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > max) throw invalid(`the OCI state on stdin is larger than ${max} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
