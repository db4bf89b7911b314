// SPDX-License-Identifier: MIT
/*
 * state: where sandboxes live (docs/sandboxes.md, "The state folder"),
 * and the `kvmbox` binary that creates, starts, lists and removes them.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { TimeoutError } from "./errors.js";

/** A name: a letter or digit, then up to 62 of [a-zA-Z0-9_.-]. */
export const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** stateRoot: $KVMBOX_SANDBOX_DIR, $XDG_RUNTIME_DIR/kvmbox, or /tmp/kvmbox-UID. */
export function stateRoot(): string {
  const own = process.env.KVMBOX_SANDBOX_DIR;
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (own && own.startsWith("/")) return own;
  if (xdg && xdg.startsWith("/")) return path.join(xdg, "kvmbox");
  return `/tmp/kvmbox-${process.getuid ? process.getuid() : 0}`;
}

/** kvmboxBin: the binary: the option, $KVMBOX_BIN, or kvmbox in PATH. */
export function kvmboxBin(bin?: string): string {
  return bin ?? process.env.KVMBOX_BIN ?? "kvmbox";
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** runKvmbox: bin with args, its output collected; killed after timeoutMs. */
export function runKvmbox(bin: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new TimeoutError(`${bin} ${args[0]}: not done within ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}
