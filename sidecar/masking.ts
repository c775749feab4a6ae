// The real mask stage, built on src/masking: JSON bodies (objects, lists, Tables, Status errors)
// masked whole, watch streams event by event, pod logs and other text line by line. A body that
// cannot be masked ends the stream with an error, so the proxy answers 502, never the raw bytes.
import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';
import { createMasker, LogMaskingStream, MaskingError, WatchMaskingStream, type MaskContext, type Masker, type MaskingRules } from '../src/masking/index.ts';
import type { MaskResponse, MaskTarget, ResponseMask, WholeBody } from './mask.ts';
import { MaskMemo, type MaskMemoOptions } from './mask-memo.ts';

/** Options of the mask stage. */
export interface MaskStageOptions {
  rules: MaskingRules;
  /**
   * Largest non-watch JSON body masked (it is parsed whole); larger answers get a 502. kubectl
   * pages lists (`limit=500`), so only a client that turns chunking off meets the bound.
   * Default 16 MiB: parsed whole, a body takes about 7 times its size, and the injected sidecar's
   * memory limit is 256 Mi.
   */
  maxBodyBytes?: number;
  /** The memo of single objects' masking (mask-memo.ts): on (default, or its bounds), or false for none. */
  memo?: MaskMemoOptions | boolean;
}

/** The default bound on a JSON body held for masking. */
export const DEFAULT_MAX_MASKED_BODY_BYTES = 16 * 1024 * 1024;

/** JSON media types: the API server's own and `+json` ones (merge-patch answers are plain JSON). */
function isJson(contentType: string): boolean {
  return contentType === 'application/json' || contentType.endsWith('+json');
}

/**
 * Holds a whole body and masks it once at its end: a JSON document cannot be masked before it is
 * complete, since a Secret's `kind` may come after its `data`. Without a content type, a body that
 * looks like JSON is masked as JSON (and must parse), anything else as text.
 */
class WholeBodyMask extends Transform {
  masked = 0;
  readonly #masker: Masker;
  readonly #context: MaskContext;
  readonly #max: number;
  readonly #sniff: Sniff;
  #parts: Buffer[] = [];
  #bytes = 0;

  constructor(masker: Masker, context: MaskContext, max: number, sniff: Sniff) {
    super();
    this.#masker = masker;
    this.#context = context;
    this.#max = max;
    this.#sniff = sniff;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#max) {
      wipe(this.#parts);
      this.#parts = [];
      done(new MaskingError('line-too-long', `the response is larger than ${this.#max} bytes, the most agentgate masks at once; ask for fewer objects (limit)`));
      return;
    }
    this.#parts.push(chunk);
    done();
  }

  override _flush(done: TransformCallback): void {
    const parts = this.#parts;
    this.#parts = [];
    try {
      const result = maskWholeBody(this.#masker, this.#context, this.#sniff, parts, this.#bytes);
      this.masked = result.masked;
      if (typeof result.body === 'string') {
        wipe(parts);
        this.push(result.body);
      } else {
        for (const part of result.body) this.push(part);
      }
      done();
    } catch (error) {
      wipe(parts);
      done(error instanceof Error ? error : new MaskingError('unparseable', 'the response could not be masked'));
    }
  }
}

/** Zeroes raw pieces no longer needed (masked, or withheld): a Secret's values do not wait for the GC. */
function wipe(parts: readonly Buffer[]): void {
  for (const part of parts) part.fill(0);
}

/** A held body as text: the pieces decoded in turn (a character may straddle two), never first joined into one buffer. */
function decode(parts: readonly Buffer[]): string {
  if (parts.length === 1) return (parts[0] as Buffer).toString('utf8');
  const decoder = new StringDecoder('utf8');
  let text = '';
  for (const part of parts) text += decoder.write(part);
  return text + decoder.end();
}

/**
 * Masks a body held whole: JSON (by its type, or sniffed) as one document, anything else as text
 * unless `sniff` says only JSON will do. Nothing masked: the upstream's own pieces, without a
 * re-serialization or a joined copy; masked: the text, which the socket encodes as it writes.
 * Throws a MaskingError when the body cannot be masked.
 */
function maskWholeBody(masker: Masker, context: MaskContext, sniff: Sniff, parts: readonly Buffer[], size: number): WholeBody {
  if (size === 0) return { body: parts, masked: 0 };
  const text = decode(parts);
  const json = sniff === 'json' || /^\s*[[{]/.test(text);
  // An object's answer that is not JSON (protobuf bytes without a type, a Secret labelled text/plain
  // that does not parse) cannot be told clean: withheld, never passed as text.
  if (!json && sniff === 'json-only') throw new MaskingError('unparseable', 'the response to a resource request is not JSON');
  const result = json ? masker.maskJson(text, context) : masker.maskText(text);
  return { body: result.count === 0 ? parts : result.text, masked: result.count };
}

/**
 * How a held body is read: `json` (its type says JSON), `sniff` (JSON when it looks like JSON, else
 * text: non-resource answers), `json-only` (an object's answer without a JSON type: JSON or 502).
 */
type Sniff = 'json' | 'sniff' | 'json-only';

/** Where a held-whole mask may remember its result: the memo, and the answer's key in it. */
interface MemoSlot {
  memo: MaskMemo;
  key: string;
}

/** A held-whole mask: the stream is made only when the proxy streams (it mostly calls whole). */
function wholeBodyMask(masker: Masker, context: MaskContext, max: number, sniff: Sniff, slot?: MemoSlot): ResponseMask {
  let stream: WholeBodyMask | undefined;
  let masked = 0;
  return {
    get stream() {
      stream ??= new WholeBodyMask(masker, context, max, sniff);
      return stream;
    },
    masked: () => stream?.masked ?? masked,
    maxBytes: max,
    // The proxy stops reading past maxBytes, so the body here is within it.
    whole(parts, size) {
      // An empty answer (a HEAD) has nothing to mask, and would only push out its GET's entry.
      const memo = size > 0 ? slot : undefined;
      const known = memo?.memo.lookup(memo.key, parts, size);
      if (known?.hit !== undefined) {
        masked = known.hit.masked;
        return { body: known.hit.text ?? parts, masked: known.hit.masked };
      }
      const result = maskWholeBody(masker, context, sniff, parts, size);
      masked = result.masked;
      memo?.memo.set(memo.key, parts, size, { text: typeof result.body === 'string' ? result.body : undefined, masked: result.masked }, known?.digest);
      return result;
    },
  };
}

/**
 * Builds the mask stage: `rules` are validated and compiled once, here. The stage picks a masker
 * per response from its media type and request: JSON (whole, or per event for watches), text of
 * logs, proxies and non-resource paths (line by line, so `logs -f` flows as it is written), and
 * anything else held whole: sniffed for non-resource paths, JSON or a 502 for object requests.
 */
export function createMaskResponse(options: MaskStageOptions): MaskResponse {
  const masker = createMasker(options.rules);
  const max = options.maxBodyBytes ?? DEFAULT_MAX_MASKED_BODY_BYTES;
  const memo = options.memo === false ? undefined : new MaskMemo(typeof options.memo === 'object' ? options.memo : {});
  const stage = (target: MaskTarget): ResponseMask => {
    const { attributes } = target;
    const context: MaskContext = { group: attributes.apiGroup, resource: attributes.resource };
    // Single objects only: a list's resourceVersion is the cluster's latest, so its bytes seldom repeat.
    // Answers read as JSON only: a masked JSON text is JSON.stringify's own string, where masked
    // free text is made of slices of the upstream's text, which the memo would keep alive.
    const slot = (sniff: Sniff): MemoSlot | undefined => (memo !== undefined && sniff !== 'sniff' && attributes.verb === 'get' && target.url !== undefined ? { memo, key: `${sniff} ${target.url}` } : undefined);
    if (isJson(target.contentType)) {
      if (target.watch) {
        const stream = new WatchMaskingStream(masker, { context });
        return { stream, masked: () => stream.masked };
      }
      return wholeBodyMask(masker, context, max, 'json', slot('json'));
    }
    // Free text is expected from pod logs, proxied answers and non-resource paths (/healthz, /metrics);
    // the API server answers every object request, errors included, in JSON.
    const freeText = !attributes.isResourceRequest || attributes.subresource === 'log' || attributes.subresource === 'proxy';
    if (target.contentType.startsWith('text/') && freeText) {
      const stream = new LogMaskingStream(masker);
      return { stream, masked: () => stream.masked };
    }
    const sniff = freeText ? 'sniff' : 'json-only';
    return wholeBodyMask(masker, context, max, sniff, slot(sniff));
  };
  return Object.assign(stage, { memo, text: (value: string) => masker.maskText(value) });
}
