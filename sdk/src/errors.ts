// SPDX-License-Identifier: MIT
/*
 * errors: the SDK's typed errors (docs/sdk.md, "Errors"). Programs branch
 * on the class; `code` is the protocol's error code where one came
 * (docs/protocol.md, "Error messages"), or the SDK's own.
 */

/** The base of every error the SDK throws. */
export class KvmboxError extends Error {
  /** The protocol's error code (`not_found`, `fs_error`, ...) or the SDK's. */
  readonly code: string;

  constructor(message: string, code = "internal", options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** What a request names does not exist: a sandbox, a file, a port, an exec. */
export class NotFoundError extends KvmboxError {
  /** For a file operation: the errno's name (`ENOENT`) and the path. */
  readonly errno?: string;
  readonly path?: string;

  constructor(message: string, extra: { errno?: string; path?: string } = {}) {
    super(message, "not_found");
    this.errno = extra.errno;
    this.path = extra.path;
  }
}

/** A sandbox of that name exists already (create). */
export class SandboxExistsError extends KvmboxError {
  constructor(message: string) {
    super(message, "exists");
  }
}

/** `kvmbox create` or `kvmbox start` failed; `stderr` says why. */
export class CreateError extends KvmboxError {
  readonly stderr: string;
  readonly exitCode: number | null;

  constructor(message: string, stderr: string, exitCode: number | null) {
    super(message, "create_failed");
    this.stderr = stderr;
    this.exitCode = exitCode;
  }
}

/**
 * The command did not start: no such program, folder or user
 * (`code` not_found), or execve failed (`internal`: EACCES, ENOEXEC).
 */
export class ExecStartError extends KvmboxError {}

/** A wait ran past its limit. `partial` holds what came before it, if any. */
export class TimeoutError extends KvmboxError {
  readonly partial?: unknown;

  constructor(message: string, partial?: unknown) {
    super(message, "timeout");
    this.partial = partial;
  }
}

/**
 * The sandbox's VM is not there: its control socket is missing or
 * refuses connections (a VMM that was killed), the connection ended, or
 * the guest agent cannot be reached (`unavailable`).
 */
export class VmGoneError extends KvmboxError {
  constructor(message: string, code = "vm_gone", options?: { cause?: unknown }) {
    super(message, code, options);
  }
}

/**
 * The peer broke the protocol or refused ours: a bad frame, bad JSON, an
 * unknown op, a bad request, something over a limit.
 */
export class ProtocolError extends KvmboxError {}

/** A file operation the guest's file system refused (`fs_error`). */
export class FsError extends KvmboxError {
  readonly errno?: string;
  readonly path?: string;

  constructor(message: string, extra: { errno?: string; path?: string } = {}) {
    super(message, "fs_error");
    this.errno = extra.errno;
    this.path = extra.path;
  }
}

/** `ports.publish` could not listen (`port_error`, errno EADDRINUSE, ...). */
export class PortError extends KvmboxError {
  readonly errno?: string;

  constructor(message: string, errno?: string) {
    super(message, "port_error");
    this.errno = errno;
  }
}

/** The shape of a protocol error object (docs/protocol.md). */
export interface WireError {
  code?: unknown;
  message?: unknown;
  errno?: unknown;
  path?: unknown;
}

/**
 * fromWire: the typed error for a protocol error answering `op`. An exec
 * that the agent refused with not_found or internal did not start.
 */
export function fromWire(op: string, e: WireError): KvmboxError {
  const code = typeof e.code === "string" ? e.code : "internal";
  const msg = `${op}: ${typeof e.message === "string" ? e.message : code}`;
  const errno = typeof e.errno === "string" ? e.errno : undefined;
  const path = typeof e.path === "string" ? e.path : undefined;

  if (op === "exec" && (code === "not_found" || code === "internal"))
    return new ExecStartError(msg, code);
  switch (code) {
    case "not_found":
      return new NotFoundError(msg, { errno, path });
    case "fs_error":
      return new FsError(msg, { errno, path });
    case "port_error":
      return new PortError(msg, errno);
    case "unavailable":
      return new VmGoneError(msg, code);
    case "bad_frame":
    case "bad_json":
    case "too_large":
    case "bad_request":
    case "unknown_op":
      return new ProtocolError(msg, code);
    default:
      return new KvmboxError(msg, code);
  }
}
