// An answer's body as the proxy holds it whole to mask it: the pieces it arrived in, small ones
// gathered into shared blocks so that the number of pieces stays proportional to the size.

/** Pieces under this size are copied into shared blocks: a held piece costs an object of its own. */
const SMALL_PIECE = 4096;
const PIECE_BLOCK = 64 * 1024;

/**
 * The pieces of an answer held whole. A body sent in tiny pieces (a pod behind services/proxy can
 * flush one byte per chunk) would otherwise cost a Buffer per byte, a hundredfold its size; small
 * pieces are copied into 64 KiB blocks, so the pieces held are at most about two per 4 KiB. A
 * single small piece is kept as it came, without a copy.
 */
export class HeldPieces {
  readonly #parts: Buffer[] = [];
  #lone: Buffer | undefined;
  #block: Buffer | undefined;
  #used = 0;

  /** Adds the next piece of the body. */
  add(chunk: Buffer): void {
    if (chunk.length >= SMALL_PIECE) {
      this.#seal();
      this.#parts.push(chunk);
    } else if (this.#block !== undefined && this.#used + chunk.length <= this.#block.length) {
      this.#used += chunk.copy(this.#block, this.#used);
    } else if (this.#block === undefined && this.#lone !== undefined) {
      this.#block = Buffer.allocUnsafeSlow(PIECE_BLOCK);
      this.#used = this.#lone.copy(this.#block, 0);
      this.#used += chunk.copy(this.#block, this.#used);
      this.#lone = undefined;
    } else {
      this.#seal();
      this.#lone = chunk;
    }
  }

  /** The pieces, in order. */
  sealed(): Buffer[] {
    this.#seal();
    return this.#parts;
  }

  /**
   * Zeroes the pieces and lets them go: once an answer is masked its raw bytes (a Secret's values)
   * are of no more use, and should not wait for the answer to reach the agent, nor for the GC.
   */
  wipe(): void {
    this.#seal();
    for (const part of this.#parts) part.fill(0);
    this.#parts.length = 0;
  }

  #seal(): void {
    if (this.#lone !== undefined) this.#parts.push(this.#lone);
    if (this.#block !== undefined) this.#parts.push(this.#block.subarray(0, this.#used));
    this.#lone = undefined;
    this.#block = undefined;
    this.#used = 0;
  }
}
