/**
 * Why some `diff`s look at the servers.
 *
 * The engine calls `diff` on every `pulumi up` and `pulumi preview`, but `read` only with
 * `--refresh` (or `refresh: always`). Drift that only `read` records (a key rotated on the
 * unsealer, a copy on the helper that fell behind, a transit token that died) would stay
 * invisible to a plain `pulumi up`, and the deadlock path would break silently. So the
 * providers whose state can drift call their own `read` from `diff` when the inputs did not
 * change, and decide on what the servers say now.
 *
 * Best effort by design: a server that cannot be reached or asked within `timeoutMs` (a
 * sealed cluster, a preview run without cluster access) leaves the recorded state to decide,
 * exactly as before; the update that follows a real change reports what is wrong itself.
 */
import type * as pulumi from "@pulumi/pulumi";

type Read<O> = (id: string, props: O) => Promise<pulumi.dynamic.ReadResult<O>>;

/** Default bound on a look from `diff`: ample for port-forwards to a few pods, short enough that a preview without cluster access is not held for minutes. */
export const LIVE_LOOK_TIMEOUT_MS = 20_000;

/** What `read` would record now for `olds`, or `olds` itself when the servers cannot tell. */
export async function stateNow<O>(read: Read<O>, id: string, olds: O, timeoutMs = LIVE_LOOK_TIMEOUT_MS): Promise<O> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    const found = await Promise.race([read(id, olds).then((r) => r.props).catch(() => undefined), timeout]);
    return found ?? olds;
  } finally {
    clearTimeout(timer);
  }
}
