// How each role's container runs Node beyond the image's ENTRYPOINT flags (the Dockerfile's, the
// same for every role): the NODE_OPTIONS its workload sets. The Helm chart is to set them (its own
// issue); the benchmarks and the bundle's tests run each role with them, so what they measure is
// what ships.

/** NODE_OPTIONS of each role's container; a role not listed runs with the image's flags alone. */
export const ROLE_NODE_OPTIONS: Readonly<{ webhook: string }> = Object.freeze({
  /**
   * The webhook runs without a JIT. Measured with `npm run bench -- --only webhook` (200
   * admissions/s): RSS after the load about 92 → 77 MiB (the optimizing compilers' code and the
   * pages of the node binary they live in are never touched), p99 of a typical pod still about
   * 3 ms. And no executable memory is made at run time: the JIT's bug class is closed to whoever
   * can send the webhook a crafted review. (WebAssembly is unavailable with it; the webhook uses none.)
   */
  webhook: '--jitless',
});
