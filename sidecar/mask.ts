// The mask stage's hook: the proxy hands every non-discovery response body to an injected masker
// (src/masking supplies the real one) as a stream decorator, and withholds the response (502)
// when the masker fails before anything was sent.
import type { Transform } from 'node:stream';
import type { RequestAttributes } from '../src/request/index.ts';

/** The response about to be masked. */
export interface MaskTarget {
  attributes: RequestAttributes;
  /** The upstream status: error bodies (a Status) are masked too. */
  statusCode: number;
  /** The upstream Content-Type, lower case, without parameters (`application/json`, `text/plain`). */
  contentType: string;
  /** A watch: newline-delimited JSON events that must be masked one by one as they arrive. */
  watch: boolean;
  /** The request's URL (path and query), as the agent sent it: single objects' masking is remembered by it. */
  url?: string;
}

/** A masker for one response. */
export interface ResponseMask {
  /**
   * The upstream body (identity-encoded) in, the masked body out. Emitting an error means the
   * body could not be masked: the proxy answers 502 if nothing was sent yet, else cuts the
   * connection; the raw bytes are never passed on.
   */
  readonly stream: Transform;
  /** How many values were masked, read once the stream ended (for the audit). */
  masked(): number;
  /**
   * The same masking for a body held whole (ordinary answers, not watches or followed logs), as
   * the pieces it arrived in (`size` bytes in all): `body` is those pieces themselves when nothing
   * was masked, else the masked text; `masked` says how many values were masked. Throws when the
   * body cannot be masked; the proxy then answers 502. The pieces stay the proxy's: once `whole`
   * returned a text or threw, it zeroes them. Optional: without it the proxy uses the stream.
   */
  whole?(parts: readonly Buffer[], size: number): WholeBody;
  /** The largest body `whole` takes: the proxy stops reading (502) past it. */
  readonly maxBytes?: number;
}

/** A body masked whole: the upstream's own pieces (nothing masked) or the masked text. */
export interface WholeBody {
  body: readonly Buffer[] | string;
  masked: number;
}

/** The mask stage: called once per forwarded response that is not a discovery document. */
export type MaskResponse = ((target: MaskTarget) => ResponseMask) & {
  /** The memo of single objects' masking, when the stage keeps one (for /metrics). */
  readonly memo?: { readonly hits: number; readonly misses: number; readonly bytes: number };
  /**
   * Masks a response header's value as free text: a proxied backend's own headers, a `Warning`
   * an admission webhook wrote from the object. Without it headers pass as they came.
   */
  readonly text?: (value: string) => { text: string; count: number };
};
