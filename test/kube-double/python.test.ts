// The official Python client (Debian's python3-kubernetes) lists, creates and watches through the
// kubeconfig the API double writes.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createKubeApiServer } from '../doubles/kube-api/server.ts';

const SCRIPT = fileURLToPath(new URL('../python/list_create_watch.py', import.meta.url));

test('the Python client lists, creates and watches', async (t) => {
  const api = await createKubeApiServer({ version: '1.31' });
  const dir = await mkdtemp(join(tmpdir(), 'kube-python-'));
  t.teardown(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });
  const kubeconfig = join(dir, 'kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  const { stdout } = await promisify(execFile)('/usr/bin/python3', [SCRIPT, kubeconfig, 'default'], { timeout: 30_000, env: { PATH: '/usr/bin:/bin', HOME: dir } });
  t.deepEqual(stdout.trim().split('\n'), [
    'namespaces default,kube-node-lease,kube-public,kube-system',
    'created from-python uid=yes',
    'listed from-python',
    'watched ADDED watched',
  ]);
  t.deepEqual(api.objects.get('configmaps', 'default', 'watched')?.metadata.labels, { 'made-by': 'python' });
});
