/**
 * Pushes the Kind end-to-end images to a registry with the project's own OCI pusher
 * (test/support/push.ts): busybox plus /marker, for this machine's architecture (a Kind
 * node's), tag v1, under sigguard-e2e/<name>. Prints `<name> <digest>` per image.
 *
 *   node push-images.cjs REGISTRY NAME...      (bundled and run by e2e/kind/sign-images.sh)
 */
import { Pusher } from '../../test/support/push.js';

async function main(): Promise<void> {
  const [registry, ...names] = process.argv.slice(2);
  if (!registry || names.length === 0) throw new Error('usage: push-images REGISTRY NAME...');
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const pusher = new Pusher(registry);
  for (const name of names) {
    const pushed = await pusher.image(`sigguard-e2e/${name}`, 'v1', name, arch);
    process.stdout.write(`${name} ${pushed.digest}\n`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`push-images: ${err.message}\n`);
  process.exit(1);
});
