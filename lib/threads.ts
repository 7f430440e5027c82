// threads.ts — the `threads` option of every API (fit, the models, load, serve, ONNX sessions): 0 (the default) means
// the compute budget, the CPUs this process may use (its affinity mask and its cgroup's CPU quota: native().info()
// .cores); more than the budget is refused, naming the option, since it only oversubscribes the cores. A count
// stored in a file (a model trained on a larger machine) is capped at the budget instead (storedThreads).
import { native } from './native';
import { failReceived, integer } from './validate';

export function threadsOption(v: unknown, name = 'threads'): number {
  const cores = native().info().cores;
  const n = integer(name, v ?? 0, 0);
  if (n > cores) failReceived(name, `an integer in [0, ${cores}] (0: all; this process may use ${cores} CPUs, by its affinity mask and CPU quota)`, String(n));
  return n;
}

/** A thread count read from a file: as stored, at most the budget. */
export function storedThreads(v: unknown): unknown {
  const cores = native().info().cores;
  return typeof v === 'number' && Number.isInteger(v) && v > cores ? cores : v;
}
