/**
 * The uid the build's code-cache training runs as when the build runs as root
 * (build/training-uid.mjs): one no account, no group and no running process has, inside the
 * user namespace's maps, from the range Debian reserves. Not nobody: any daemon may run as
 * nobody, and one that did could change what the trainer compiles into the executable.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/paths.js';

interface TrainingUid {
  RESERVED_FROM: number;
  RESERVED_TO: number;
  namedIds(text: string): Set<number>;
  statusIds(text: string): Set<number>;
  mapped(map: string, id: number): boolean;
  chooseId(used: Set<number>, uidMap: string, gidMap: string): number | undefined;
  unusedId(): number | undefined;
}
const load = async (): Promise<TrainingUid> => (await import(join(ROOT, 'build/training-uid.mjs'))) as TrainingUid;
const ALL = '0 0 4294967295';

describe('the training uid', () => {
  it('is never one an account, a group or a process has, nor nobody', async () => {
    const t = await load();
    const used = new Set([
      ...t.namedIds(
        'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\nsvc:x:65533:65533::/:/bin/false\n',
      ),
      ...t.namedIds('grp:x:65532:\n'),
      ...t.statusIds('Name:\tdaemon\nUid:\t65531\t65531\t65531\t65531\nGid:\t0\t0\t0\t0\n'),
    ]);
    expect(used.has(65533) && used.has(65532) && used.has(65531) && used.has(65534)).toBe(true);
    expect(t.chooseId(used, ALL, ALL)).toBe(65530);
  });

  it('is inside the uid and gid maps (a build in a user namespace maps few ids), or none', async () => {
    const t = await load();
    expect(t.chooseId(new Set(), '0 100000 65100', ALL)).toBe(65099);
    expect(t.chooseId(new Set(), ALL, '         0     100000      65010\n')).toBe(65009);
    expect(t.chooseId(new Set(), '0 100000 65000', ALL)).toBeUndefined();
    const every = new Set(Array.from({ length: t.RESERVED_TO - t.RESERVED_FROM + 1 }, (_, i) => t.RESERVED_FROM + i));
    expect(t.chooseId(every, ALL, ALL)).toBeUndefined();
  });

  it('on this host: in the reserved range, and no running process has it', async () => {
    const t = await load();
    const id = t.unusedId();
    expect(id).toBeGreaterThanOrEqual(t.RESERVED_FROM);
    expect(id).toBeLessThanOrEqual(t.RESERVED_TO);
    expect(id).not.toBe(process.getuid?.());
  });
});
