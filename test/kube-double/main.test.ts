// The double's CLI: listens, writes a kubeconfig, loads a seed file, stops cleanly on SIGTERM.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { kubectl } from '../helpers/kubectl.ts';

const MAIN = fileURLToPath(new URL('../doubles/kube-api/main.ts', import.meta.url));

test('main.ts serves the seed through the kubeconfig it writes and exits 0 on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kube-main-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const seed = join(dir, 'seed.yaml');
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(seed, 'apiVersion: v1\nkind: Namespace\nmetadata: {name: seeded}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-seed, namespace: seeded}\ndata: {a: b}\n');
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, '--port', '0', '--kubeconfig', kubeconfig, '--version', '1.33', '--seed', seed], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  t.teardown(() => child.kill('SIGKILL'));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out);
    });
    void exited.then(() => reject(new Error(`main.ts exited early: ${out}`)));
  });
  t.regex(line, /^kube-double v1\.33\.0 listening on https:\/\/127\.0\.0\.1:\d+; kubeconfig /);
  const config = parse(await readFile(kubeconfig, 'utf8')) as { clusters: Array<{ cluster: { server: string } }> };
  t.regex(config.clusters[0]?.cluster.server ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);
  const r = await kubectl('1.33', ['get', 'configmap', 'from-seed', '-n', 'seeded', '-o', 'jsonpath={.data.a}'], { kubeconfig });
  t.is(r.stdout, 'b');
  child.kill('SIGTERM');
  t.is(await exited, 0);
});

test('main.ts reports every bad flag at once', async (t) => {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, '--port', 'x'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(code, 2);
  t.regex(err, /--port: expected a port number 0-65535, got "x"\n--kubeconfig: expected the path of the kubeconfig to write\n/);
});
