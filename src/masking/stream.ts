/**
 * Streaming masking for the proxy: watch streams (newline-delimited JSON events) and pod logs
 * (text lines), each split into lines across arbitrary chunks, with a bound on a line's length.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { MASK_MARKER } from './marker.ts';
import { MaskingError, type MaskContext, type MaskedText, type Masker } from './mask.ts';

/** A watch event is one object; etcd stores at most 1.5 MiB, which JSON (base64 data) grows by a third. */
export const DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024;
/** A log line longer than this is cut at its last blank, since a secret never spans one. */
export const DEFAULT_MAX_LOG_LINE_BYTES = 256 * 1024;
/** A private key block runs a few dozen lines; one whose END never comes stops being masked after this many. */
const MAX_KEY_LINES = 1000;
const NEWLINE = 0x0a;

/** Splits bytes into lines across writes; `onLine` gets each complete line without its newline. */
class LineSplitter {
  #parts: Buffer[] = [];
  #bytes = 0;

  /** Feeds a chunk; returns the bytes still held (the start of an unfinished line). */
  feed(chunk: Buffer, onLine: (line: Buffer) => void): number {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, nl);
      const line = this.#bytes === 0 ? piece : Buffer.concat([...this.#parts, piece]);
      this.#parts = [];
      this.#bytes = 0;
      onLine(line);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#parts.push(chunk.subarray(start));
      this.#bytes += chunk.length - start;
    }
    return this.#bytes;
  }

  /** Takes what is held (an unfinished line) out of the splitter. */
  take(): Buffer {
    const rest = Buffer.concat(this.#parts);
    this.#parts = [];
    this.#bytes = 0;
    return rest;
  }
}

/** Options of a watch masking stream. */
export interface WatchMaskingOptions {
  /** The watched resource, so kind-less event objects of a Secret-like resource are masked as Secrets. */
  context?: MaskContext;
  maxEventBytes?: number;
}

/**
 * Masks a watch response: each line is one JSON event, masked and re-serialized. A line that does
 * not parse, or grows past the bound, ends the stream with a {@link MaskingError}: the raw line
 * is never passed on. `masked` counts the values masked so far.
 */
export class WatchMaskingStream extends Transform {
  masked = 0;
  readonly #masker: Masker;
  readonly #context: MaskContext | undefined;
  readonly #max: number;
  readonly #lines = new LineSplitter();

  constructor(masker: Masker, options: WatchMaskingOptions = {}) {
    super();
    this.#masker = masker;
    this.#context = options.context;
    this.#max = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const out: Buffer[] = [];
    try {
      const held = this.#lines.feed(chunk, (line) => this.#event(line, out));
      if (held > this.#max) throw new MaskingError('line-too-long', `a watch event is longer than ${this.#max} bytes`);
    } catch (error) {
      done(error as Error);
      return;
    }
    done(null, out.length === 0 ? undefined : Buffer.concat(out));
  }

  override _flush(done: TransformCallback): void {
    const out: Buffer[] = [];
    try {
      this.#event(this.#lines.take(), out);
    } catch (error) {
      done(error as Error);
      return;
    }
    done(null, out.length === 0 ? undefined : Buffer.concat(out));
  }

  #event(line: Buffer, out: Buffer[]): void {
    if (line.length > this.#max) throw new MaskingError('line-too-long', `a watch event is longer than ${this.#max} bytes`);
    const text = line.toString('utf8');
    if (text.trim() === '') return;
    const masked = this.#masker.maskJson(text, this.#context);
    this.masked += masked.count;
    out.push(masked.count === 0 ? line : Buffer.from(masked.text), Buffer.from('\n'));
  }
}

/** Options of a log masking stream. */
export interface LogMaskingOptions {
  maxLineBytes?: number;
}

const BEGIN_KEY = /-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/;
const END_KEY = /-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/;

/**
 * Masks pod logs line by line. Bytes are read as latin1, so every byte comes out as it went in
 * (binary logs, invalid UTF-8) except the masked spans. A private key printed over several lines
 * is masked from its BEGIN line to its END line. An over-long line is cut at its last blank.
 */
export class LogMaskingStream extends Transform {
  masked = 0;
  readonly #masker: Masker;
  readonly #max: number;
  readonly #lines = new LineSplitter();
  /** Lines left to mask inside a private key block; 0 outside one. */
  #inKey = 0;
  /** Dropping the rest of an over-long run without blanks, already replaced by the marker. */
  #dropping = false;
  /** Withholding the rest of an over-long line whose piece ended in what may be a cut secret. */
  #withholding = false;
  /** Whether the last text masked as cut ended in what may be a cut secret (masked to its end). */
  #open = false;

  constructor(masker: Masker, options: LogMaskingOptions = {}) {
    super();
    this.#masker = masker;
    this.#max = options.maxLineBytes ?? DEFAULT_MAX_LOG_LINE_BYTES;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const out: string[] = [];
    const held = this.#lines.feed(chunk, (line) => {
      // The end of a line withheld: only its newline goes out (its start went out masked).
      out.push((this.#withholding ? '' : this.#line(line.toString('latin1'))) + '\n');
      this.#dropping = false;
      this.#withholding = false;
    });
    if (held > this.#max) this.#overlong(this.#lines.take().toString('latin1'), out);
    done(null, out.length === 0 ? undefined : Buffer.from(out.join(''), 'latin1'));
  }

  // A last line without its newline may have been cut (`limitBytes`, or a process mid-write): it is
  // masked as a cut text, so a secret cut before its pattern's end is masked from its trigger on.
  override _flush(done: TransformCallback): void {
    const rest = this.#lines.take();
    done(null, rest.length === 0 || this.#withholding ? undefined : Buffer.from(this.#line(rest.toString('latin1'), true), 'latin1'));
  }

  /**
   * Emits an over-long line's head up to its last blank and keeps the tail; a run without blanks
   * becomes the marker. The head is masked as a cut text: when it ends in what may be a secret cut
   * at the blank (a quoted password with spaces), the rest of the line is withheld.
   */
  #overlong(text: string, out: string[]): void {
    if (this.#withholding) return;
    const cut = Math.max(text.lastIndexOf(' '), text.lastIndexOf('\t'));
    if (this.#dropping || cut <= 0) {
      if (!this.#dropping) {
        out.push(MASK_MARKER);
        this.masked++;
      }
      this.#dropping = true;
      return;
    }
    out.push(this.#line(text.slice(0, cut + 1), true));
    if (this.#open) {
      this.#withholding = true;
      return;
    }
    this.#lines.feed(Buffer.from(text.slice(cut + 1), 'latin1'), () => undefined);
  }


  #line(text: string, cut = false): string {
    this.#open = false;
    if (this.#dropping) {
      // The tail of a run already masked, up to its first blank.
      const blank = text.search(/[ \t]/);
      if (blank === -1) return '';
      text = text.slice(blank);
    }
    if (this.#inKey > 0) {
      const end = END_KEY.exec(text);
      this.#inKey = end ? 0 : this.#inKey - 1;
      if (end?.index === 0) return text;
      this.masked++;
      // Keep a CRLF log's carriage return, so the masked line ends as the others do.
      return end ? MASK_MARKER + text.slice(end.index) : MASK_MARKER + (text.endsWith('\r') ? '\r' : '');
    }
    let masked: MaskedText;
    if (cut) {
      const result = this.#masker.maskCutText(text);
      this.#open = result.open;
      masked = result;
    } else {
      masked = this.#masker.maskText(text);
    }
    this.masked += masked.count;
    const begin = BEGIN_KEY.exec(text);
    if (begin && !END_KEY.test(text.slice(begin.index))) this.#inKey = MAX_KEY_LINES;
    return masked.text;
  }
}
