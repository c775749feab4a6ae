// The broker stream the sidecar holds open (GET /v1/stream): grants, credentials and revocations
// as they happen. It reconnects with backoff, resumes from the last seq, and treats silence past
// two heartbeats as a lost stream; while it is down, GrantState serves nothing from cache.
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

/** Starts holding the stream open, feeding `state`. */
export function startBrokerStream(broker: BrokerClient, state: GrantState, log: Logger): BrokerStream {
  const stop = new AbortController();
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

  return { connected, close: () => stop.abort() };
}
