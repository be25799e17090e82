/** Polling with a deadline: the only way the core waits (never a bare sleep). */
import { TimeoutError, WaitCannotHelpError } from "./errors";

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Calls `check` until it reports done. `check` returns a description of what it saw, so a
 * timeout says what the state was; errors thrown by `check` count as "not yet" and their
 * message becomes the last seen state, except those no amount of waiting fixes
 * (WaitCannotHelpError: a refused port-forward, a pod whose image cannot be pulled).
 */
export async function waitFor(what: string, check: () => Promise<{ done: boolean; state: string }>, opts: WaitOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let state: string;
  for (;;) {
    try {
      const r = await check();
      if (r.done) return;
      state = r.state;
    } catch (e) {
      if (e instanceof WaitCannotHelpError) throw e;
      state = (e as Error).message;
    }
    if (Date.now() >= deadline) throw new TimeoutError(what, timeoutMs, state);
    await sleep(intervalMs);
  }
}
