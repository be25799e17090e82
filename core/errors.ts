/**
 * Typed errors of the core. Each names the server and the call, says what went wrong and
 * what to do next. None of them ever carries a request body: bodies hold unseal keys and
 * tokens.
 */

/** Base class so callers can tell our errors from programming errors. */
export class VaultOpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The server answered with an error status. */
export class VaultApiError extends VaultOpError {
  constructor(
    readonly server: string,
    readonly call: string,
    readonly status: number,
    readonly errors: string[],
  ) {
    super(`${call} on ${server} failed with HTTP ${status}: ${errors.join("; ") || "(no error text)"}`);
  }

  /** True when any of the server's error texts contains `fragment`. */
  mentions(fragment: string): boolean {
    return this.errors.some((e) => e.includes(fragment));
  }
}

/**
 * A token is not valid on the server any more: expired, revoked, or never issued there.
 * - `gone: "caller"`: the token the call was made with (HTTP 403 with the bare "permission
 *   denied" Vault and OpenBao give for a token they do not know, or "bad token").
 * - `gone: "accessor"`: the token a lookup, renewal or revocation by accessor names (HTTP 400
 *   "invalid accessor"); the caller's own token is fine.
 * Waiting cannot help: a new token is needed. A valid token whose policy refuses the call is
 * not this (its 403 wraps "permission denied" in the ACL's "1 error occurred" list) and stays
 * a plain VaultApiError.
 */
export class TokenGoneError extends VaultApiError {
  constructor(
    cause: VaultApiError,
    readonly gone: "caller" | "accessor",
    explanation?: string,
  ) {
    super(cause.server, cause.call, cause.status, cause.errors);
    this.message =
      explanation ??
      (gone === "caller"
        ? `${cause.message}: the token this call was made with is not valid on ${cause.server} any more (expired or revoked, or not issued there): give a current one`
        : `${cause.message}: the token with that accessor no longer exists on ${cause.server} (expired or revoked)`);
  }
}

/** Which token a refusal by the server says is gone, if any. */
function goneToken(e: VaultApiError): "caller" | "accessor" | undefined {
  if (e.status === 400 && e.mentions("invalid accessor")) return "accessor";
  if (e.status === 403 && e.errors.some((x) => x.trim() === "permission denied" || /\bbad token\b/.test(x))) return "caller";
  return undefined;
}

/** `e` as the most specific error the core knows for it: a VaultApiError that says a token is gone becomes a TokenGoneError. */
export function classified(e: unknown): unknown {
  if (!(e instanceof VaultApiError) || e instanceof TokenGoneError) return e;
  const gone = goneToken(e);
  return gone ? new TokenGoneError(e, gone) : e;
}

/** TLS failed: the CA is not trusted, the name does not match, or the client cert was refused. */
export class VaultTlsError extends VaultOpError {
  constructor(
    readonly server: string,
    readonly call: string,
    readonly code: string,
    advice: string,
  ) {
    super(`${call} on ${server}: TLS failed (${code}): ${advice}`);
  }
}

/** Nothing answered: connection refused, DNS failure or timeout. */
export class VaultUnreachableError extends VaultOpError {
  constructor(
    readonly server: string,
    readonly call: string,
    readonly code: string,
    advice: string,
  ) {
    super(`${call}: ${server} is unreachable (${code}): ${advice}`);
  }
}

/** A failure that no amount of waiting fixes: waits (core/wait.ts) stop at once with it. */
export class WaitCannotHelpError extends VaultOpError {}

/**
 * The caller gave up on the operation (its AbortSignal fired, core/abort.ts): the request was
 * cut off or never sent. Waits stop at once with it: nobody is waiting for the answer any more.
 */
export class RequestAbortedError extends WaitCannotHelpError {
  constructor(
    readonly server: string,
    readonly call: string,
    reason: string,
  ) {
    super(`${call} on ${server}: abandoned by the caller: ${reason}`);
  }
}

/** The way to the server refused us (a port-forward that RBAC forbids). */
export class AccessDeniedError extends WaitCannotHelpError {
  constructor(
    readonly server: string,
    readonly call: string,
    reason: string,
  ) {
    super(`${call}: the way to ${server} is refused: ${reason}`);
  }
}

/** Bad input caught before anything was sent; `key` names the offending parameter. */
export class InputError extends VaultOpError {
  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`${key}: ${problem}`);
  }
}

/** Several problems with the input, reported at once. */
export class InputErrors extends VaultOpError {
  constructor(readonly problems: InputError[]) {
    super(problems.map((p) => p.message).join("; "));
  }
}

/** Throws nothing for no problems, the problem itself for one, InputErrors for several. */
export function throwProblems(problems: InputError[]): void {
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) throw new InputErrors(problems);
}

/** init was asked of a cluster that is already initialized: nothing was changed. */
export class AlreadyInitializedError extends VaultOpError {
  constructor(readonly server: string) {
    super(
      `${server} is already initialized: refusing to init again (that would need new keys and ` +
        `lose nothing only because the server refuses it too). Use the unseal/recovery keys and ` +
        `root token from the first init (the Pulumi state or wherever you stored them).`,
    );
  }
}

/** The unseal keys given do not open the barrier. Progress was reset; nothing changed. */
export class UnsealKeyRejectedError extends VaultOpError {
  constructor(
    readonly server: string,
    detail: string,
  ) {
    super(
      `${server} rejected the unseal keys (${detail}). The unseal progress was reset and the ` +
        `node is still sealed with its data untouched: check that these are the keys returned ` +
        `by this cluster's init (or its recovery keys after a migration to Shamir).`,
    );
  }
}

/** `migrate` was asked of a node whose running config still describes the stored seal. */
export class NotInMigrationModeError extends VaultOpError {
  constructor(readonly server: string) {
    super(
      `${server} is not in seal migration mode: the config it runs still has the seal it was ` +
        `initialized with. Apply the new seal config and restart the node before unsealing ` +
        `with migrate (the article's "'migrate' parameter set true" error: the ConfigMap still ` +
        `held the old config).`,
    );
  }
}

/** A wait for a condition ran out of time; `state` describes what was last seen. */
export class TimeoutError extends VaultOpError {
  constructor(what: string, ms: number, state: string) {
    super(`timed out after ${ms} ms waiting for ${what}; last seen: ${state}`);
  }
}
