// The broker stream the sidecar holds open (GET /v1/stream): grants, credentials and revocations
// as they happen. It reconnects with backoff, resumes from the last seq, and treats silence past
// two heartbeats (or an open that does not answer within the broker timeout) as a lost stream;
// while it is down, GrantState serves nothing from cache, and once it has been down for
// `openResponsesGraceMs` the watches and followed logs still open are cut (no revocation could reach them).
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { BrokerPaths, parseStreamLine } from '../src/contracts/index.ts';
import type { BrokerClient } from './broker.ts';
import type { GrantState } from './grants.ts';

/** A running stream reader. */
export interface BrokerStream {
  /** Resolves once the first hello arrived (or never, while the broker is away). */
  readonly connected: Promise<void>;
  close(): void;
}

/** Backoff bounds: quick first retries, so a broker restart costs little; capped to spare it. */
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;

/** How long long-lived responses outlast a lost stream by default: a broker restart fits in it. */
export const DEFAULT_OPEN_RESPONSES_GRACE_MS = 5000;

/** Starts holding the stream open, feeding `state`. */
export function startBrokerStream(broker: BrokerClient, state: GrantState, log: Logger, openResponsesGraceMs = DEFAULT_OPEN_RESPONSES_GRACE_MS): BrokerStream {
  const stop = new AbortController();
  let lostTimer: NodeJS.Timeout | undefined;
  const lost = (): void => {
    if (lostTimer !== undefined || stop.signal.aborted) return;
    lostTimer = setTimeout(() => {
      lostTimer = undefined;
      if (state.streamConnected || stop.signal.aborted) return;
      const cut = state.cutOpenResponses('broker-stream-lost');
      if (cut > 0) log.warn({ cut }, 'broker stream lost: open watches and followed logs cut, since no revocation could reach them');
    }, openResponsesGraceMs);
    lostTimer.unref();
  };
  let since: number | undefined;
  let backoff = MIN_BACKOFF_MS;
  let markConnected: () => void = () => {};
  const connected = new Promise<void>((resolve) => (markConnected = resolve));

  async function once(): Promise<void> {
    const attempt = new AbortController();
    const onStop = (): void => attempt.abort();
    stop.signal.addEventListener('abort', onStop);
    let watchdog: NodeJS.Timeout | undefined;
    const arm = (seconds: number): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => attempt.abort(), seconds * 2000 + 1000);
      watchdog.unref();
    };
    try {
      const path = since === undefined ? BrokerPaths.stream : `${BrokerPaths.stream}?since=${since}`;
      // A broker that takes the connection but never answers must not hold the stream closed for good.
      watchdog = setTimeout(() => attempt.abort(), broker.timeoutMs);
      watchdog.unref();
      const opened = await broker.stream(path, attempt.signal);
      if (!opened.ok) {
        log.warn({ kind: opened.kind, detail: opened.detail }, 'broker stream unavailable');
        return;
      }
      let heartbeat = 30;
      arm(heartbeat);
      const lines = createInterface({ input: opened.res, crlfDelay: Infinity });
      opened.res.on('error', () => lines.close());
      for await (const line of lines) {
        if (line.trim() === '') continue;
        arm(heartbeat);
        const parsed = parseStreamLine(line);
        if (!parsed.ok) {
          log.warn({ errors: parsed.errors }, 'broker stream line does not match the contract; skipped');
          continue;
        }
        const event = parsed.value;
        switch (event.type) {
          case 'hello':
            heartbeat = event.heartbeatSeconds;
            arm(heartbeat);
            // Without a resume the broker resends the whole state; decisions cached meanwhile may be stale.
            if (!event.resumed) state.clearCache();
            state.streamConnected = true;
            clearTimeout(lostTimer);
            lostTimer = undefined;
            backoff = MIN_BACKOFF_MS;
            markConnected();
            break;
          case 'grant':
            state.putGrant(event.grant);
            break;
          case 'credential':
            state.putCredential(event.credential);
            break;
          case 'revocation':
            log.info({ grantId: event.grantId, reason: event.reason }, 'grant ended by the broker');
            state.end(event.grantId, event.reason);
            break;
          default:
            break;
        }
        if (event.type !== 'hello' && event.type !== 'heartbeat') since = Math.max(since ?? 0, event.seq);
      }
    } catch (error) {
      if (!stop.signal.aborted) log.warn({ err: error }, 'broker stream lost');
    } finally {
      clearTimeout(watchdog);
      stop.signal.removeEventListener('abort', onStop);
      attempt.abort();
      state.streamConnected = false;
      lost();
    }
  }

  void (async () => {
    while (!stop.signal.aborted) {
      await once();
      if (stop.signal.aborted) break;
      await new Promise((resolve) => setTimeout(resolve, backoff).unref());
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  })();

  return {
    connected,
    close: () => {
      stop.abort();
      clearTimeout(lostTimer);
    },
  };
}
