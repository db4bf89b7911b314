// SPDX-License-Identifier: MIT
/*
 * kvmbox: the TypeScript SDK's entry (docs/sdk.md).
 */
export { Sandbox } from "./sandbox.js";
export type { CreateOptions, ExecResult, SandboxInfo, SandboxMetrics, Volume, PortSpec } from "./sandbox.js";
export { ExecStream } from "./exec.js";
export type { ExecEvent, ExecOptions } from "./exec.js";
export { SandboxFs } from "./fs.js";
export type { Entry, Stat, WriteOptions } from "./fs.js";
export { SandboxPorts } from "./ports.js";
export type { PublishedPort, PublishOptions } from "./ports.js";
export type { ByteString } from "./bytes.js";
export {
  KvmboxError,
  NotFoundError,
  SandboxExistsError,
  CreateError,
  ExecStartError,
  TimeoutError,
  VmGoneError,
  ProtocolError,
  FsError,
  PortError,
} from "./errors.js";
export { encodeFrame, FrameDecoder } from "./frame.js";
