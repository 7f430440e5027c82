// compute-pool.test.ts — the compute pool (native/binding/executor.h): jobs of several models run at once within the
// core budget and give the same bits as each alone; a job that does not fit waits its turn (first in, first out);
// threads above the budget are refused naming the option; the budget is the CPUs the process may use (its affinity
// mask, its cgroup's CPU quota), checked in child processes started under taskset and inside a cgroup.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { GaussianMixture, Vae, native } from '../lib';
import { Matrix } from '../lib/matrix';
import { randn, uniform } from './helpers';
import { ensureDist, ROOT } from './scripts/dist';

const cores = native().info().cores;
const x: Matrix = { data: uniform(4000 * 64, 1), rows: 4000, cols: 64 };
const bytes = (a: Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const vae = (seed: number) => new Vae({ inputDim: 64, latentDim: 4, hidden: [128], likelihood: 'gaussian', seed });

test('two 1-thread fits run at once and equal each fit alone, bit for bit; a GaussianMixture fit beside them too', async () => {
  if (cores < 2) return console.log(`pool concurrency not tested: this process may use ${cores} CPU`);
  const alone = [vae(1), vae(2)];
  for (const v of alone) await v.fit(x, { epochs: 2, batchSize: 16, threads: 1 });
  const g = { data: randn(3000 * 5, 3), rows: 3000, cols: 5 };
  const gmmAlone = await new GaussianMixture({ nComponents: 4, covarianceType: 'full', seed: 0, threads: 1 }).fit(g);
  const together = [vae(1), vae(2)];
  let peak = 0;
  const watch = setInterval(() => { peak = Math.max(peak, native().poolStats().runningThreads); }, 2);
  const [, , gmm] = await Promise.all([...together.map((v) => v.fit(x, { epochs: 2, batchSize: 16, threads: 1 })),
    new GaussianMixture({ nComponents: 4, covarianceType: 'full', seed: 0, threads: 1 }).fit(g)]);
  clearInterval(watch);
  expect(peak).toBe(2); // two 1-thread jobs at once, never more than the budget
  together.forEach((v, i) => expect(bytes(v.parameters().flat).equals(bytes(alone[i].parameters().flat))).toBe(true));
  expect(bytes((gmm as GaussianMixture).means.data).equals(bytes(gmmAlone.means.data))).toBe(true);
  expect(native().poolStats().workers).toBeLessThanOrEqual(2);
}, 120000);

test('a job that does not fit the budget waits, first in first out', async () => {
  const a = new Vae({ inputDim: 64, latentDim: 4, hidden: [1024, 1024], likelihood: 'gaussian', seed: 3 }), b = vae(4);
  const first = a.fit(x, { epochs: 1, batchSize: 4, threads: 0 }); // the whole budget, for a second or so
  await new Promise((r) => setTimeout(r, 20));
  const second = b.fit(x, { epochs: 1, batchSize: 8, threads: 1 });
  await new Promise((r) => setTimeout(r, 20));
  const s = native().poolStats();
  expect(s).toMatchObject({ budget: cores, runningThreads: cores, queued: 1 });
  await Promise.all([first, second]);
  expect(native().poolStats()).toMatchObject({ queued: 0 });
});

test('threads above the budget are refused, naming the option', async () => {
  const over = cores + 1;
  expect(() => new Vae({ inputDim: 4, latentDim: 2, threads: over })).toThrow(new RegExp(`Expected an integer in \\[0, ${cores}\\] .*this process may use ${cores} CPU.* for threads but received ${over}`));
  await expect(vae(5).fit(x, { epochs: 1, threads: over })).rejects.toThrow(/for threads/);
  expect(() => new GaussianMixture({ nComponents: 2, threads: over })).toThrow(/for threads/);
});

describe('the budget is what the process may use', () => {
  beforeAll(() => ensureDist(), 120000);
  const script = `const { native } = require(${JSON.stringify(path.join(ROOT, 'dist'))}); console.log(JSON.stringify({ cores: native().info().cores, budget: native().poolStats().budget }));`;
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60000 });
    return { status: r.status, out: r.stdout.trim(), err: r.stderr };
  };

  test('its affinity mask (taskset -c 0)', () => {
    const r = run('taskset', ['-c', '0', process.execPath, '-e', script]);
    if (r.status === null || /not found|No such file/.test(r.err)) return console.log(`affinity not tested: taskset is not available (${r.err.trim()})`);
    expect(JSON.parse(r.out)).toEqual({ cores: 1, budget: 1 });
  });

  test("its cgroup's CPU quota (cpu.max / cfs_quota_us of 1 CPU), rounded up", () => {
    // cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us); making a cgroup needs root and a writable hierarchy.
    const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
    const dir = v2 ? `/sys/fs/cgroup/latentkit-test-${process.pid}` : `/sys/fs/cgroup/cpu/latentkit-test-${process.pid}`;
    try {
      fs.mkdirSync(dir);
      if (v2) fs.writeFileSync(path.join(dir, 'cpu.max'), '150000 100000'); // 1.5 CPUs → 2 if there are 2, 1 … rounded up
      else {
        fs.writeFileSync(path.join(dir, 'cpu.cfs_period_us'), '100000');
        fs.writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), '100000');
      }
    } catch (e) {
      try { fs.rmdirSync(dir); } catch { /* not made */ }
      return console.log(`cgroup quota not tested: cannot make a cgroup here (${(e as Error).message})`);
    }
    try {
      const r = run('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec "${process.execPath}" -e '${script}'`]);
      expect(r.status).toBe(0);
      const expected = v2 ? Math.min(2, cores) : 1;
      expect(JSON.parse(r.out)).toEqual({ cores: expected, budget: expected });
    } finally {
      fs.rmdirSync(dir);
    }
  });
});
