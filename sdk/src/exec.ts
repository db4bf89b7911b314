// SPDX-License-Identifier: MIT
/*
 * exec: a command in the guest (docs/protocol.md, "exec"): its output
 * events as an async iterator, its stdin as a Writable (exec.stdin), its
 * exit. exec() of sandbox.ts collects it all.
 */
import { Writable } from "node:stream";
import type { Connection } from "./conn.js";
import type { Frame } from "./frame.js";
import { toWire, type ByteString } from "./bytes.js";
import { fromWire, KvmboxError, TimeoutError } from "./errors.js";

/** How long the agent may take to start a command: it waits up to 60 s
 * for a guest that boots (docs/protocol.md). */
const START_WAIT_MS = 90000;
/** Past the agent's own timeout: time for its SIGKILL and exit event. */
const EXIT_GRACE_MS = 15000;
/** Default limit of a command's run (timeoutMs). */
export const DEFAULT_EXEC_TIMEOUT_MS = 600000;
/** Output held for a reader that does not read, before reading stops. */
const MAX_QUEUED = 8 << 20;
/** The most bytes of stdin in one frame (the body limit). */
const STDIN_CHUNK = 1 << 20;

export interface ExecOptions {
  /** Variables added to the guest's default environment and the sandbox's own. */
  env?: Record<string, string>;
  /** Working folder (default: the sandbox's workdir, else its image's WorkingDir, else /). */
  cwd?: ByteString;
  /** "uid:gid" or a name from the guest's /etc/passwd. */
  user?: ByteString;
  /** The command is killed after this (ms; default 600000; Infinity: never). */
  timeoutMs?: number;
  /** exec(): bytes for the command's stdin, then end of file. */
  stdin?: string | Uint8Array;
  /** A pseudo-terminal of this size instead of pipes (output on stdout). */
  pty?: { rows?: number; cols?: number };
}

export type ExecEvent =
  | { kind: "stdout"; data: Buffer }
  | { kind: "stderr"; data: Buffer }
  | { kind: "exit"; exitCode: number | null; signal: number | null; timedOut: boolean };

/**
 * ExecStream: a started command. Iterate it (`for await`) for stdout,
 * stderr and exit events; write its stdin; wait() for the exit alone.
 */
export class ExecStream implements AsyncIterable<ExecEvent> {
  readonly pid: number;
  /** The command's stdin; end() sends end of file. */
  readonly stdin: Writable;
  private queue: ExecEvent[] = [];
  private queued = 0;
  private waiter: (() => void) | null = null;
  private err: KvmboxError | null = null;
  private exitEv: Extract<ExecEvent, { kind: "exit" }> | null = null;
  private exitWaiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private paused = false;
  private iterating = false;

  private constructor(
    private readonly conn: Connection,
    private readonly id: number,
    pid: number,
  ) {
    this.pid = pid;
    this.stdin = new Writable({
      highWaterMark: STDIN_CHUNK,
      write: (chunk: Buffer, _enc, cb) => this.sendStdin(chunk, false).then(() => cb(), cb),
      final: (cb) => this.sendStdin(Buffer.alloc(0), true).then(() => cb(), cb),
    });
    // A write after the command ended is no one's business but the caller's.
    this.stdin.on("error", () => {});
  }

  /** start: the exec request; resolves once the agent started it. */
  static start(conn: Connection, argv: ByteString[], o: ExecOptions & { stdinPipe: boolean }): Promise<ExecStream> {
    const timeoutMs = o.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const fields: Record<string, unknown> = { argv: argv.map(toWire) };
    if (o.env) fields.env = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
    if (o.cwd !== undefined) fields.cwd = toWire(o.cwd);
    if (o.user !== undefined) fields.user = toWire(o.user);
    if (o.pty) fields.pty = { rows: o.pty.rows ?? 24, cols: o.pty.cols ?? 80 };
    else fields.stdin = o.stdinPipe ? "pipe" : "none";
    if (timeoutMs !== Infinity) fields.timeout_ms = Math.max(1, Math.ceil(timeoutMs));

    return new Promise((resolve, reject) => {
      let stream: ExecStream | null = null;
      let early: Frame[] = [];
      let id = 0;
      const startTimer = setTimeout(() => {
        conn.release(id);
        reject(new TimeoutError(`exec ${String(argv[0])}: not started within ${START_WAIT_MS} ms`));
      }, START_WAIT_MS);
      try {
        id = conn.send("exec", fields, undefined, {
          onFrame: (f) => {
            if (stream) return stream.onFrame(f);
            if (f.msg.type === "reply") {
              clearTimeout(startTimer);
              stream = new ExecStream(conn, id, Number(f.msg.pid));
              if (timeoutMs !== Infinity) stream.arm(timeoutMs + EXIT_GRACE_MS, String(argv[0]));
              early.forEach((e) => stream!.onFrame(e));
              early = [];
              resolve(stream);
            } else if (f.msg.type === "error") {
              clearTimeout(startTimer);
              conn.release(id);
              reject(fromWire("exec", (f.msg.error ?? {}) as object));
            } else {
              early.push(f);
            }
          },
          onClose: (e) => {
            clearTimeout(startTimer);
            if (stream) stream.fail(e);
            else reject(e);
          },
        });
      } catch (e) {
        clearTimeout(startTimer);
        reject(e);
      }
    });
  }

  /** wait: the exit event, once the output before it was read or dropped. */
  async wait(): Promise<Extract<ExecEvent, { kind: "exit" }>> {
    if (!this.iterating) {
      // Nobody reads the output: drop it, so the agent is not held up.
      this.iterating = true;
      for await (const _ of this.events()) void _;
    }
    while (!this.exitEv && !this.err) await new Promise<void>((r) => this.exitWaiters.push(r));
    if (this.err) throw this.err;
    return this.exitEv!;
  }

  /** signal: send signal n (default SIGTERM) to the command, or its group. */
  async signal(n = 15, group = false): Promise<void> {
    await this.conn.call("exec.signal", { exec_id: this.id, signal: n, group });
  }

  /** kill: SIGKILL to its whole process group. */
  kill(): Promise<void> {
    return this.signal(9, true);
  }

  [Symbol.asyncIterator](): AsyncIterator<ExecEvent> {
    this.iterating = true;
    return this.events();
  }

  private async *events(): AsyncGenerator<ExecEvent> {
    for (;;) {
      const ev = this.queue.shift();
      if (ev) {
        if (ev.kind !== "exit") this.queued -= ev.data.length;
        if (this.paused && this.queued < MAX_QUEUED / 2) {
          this.paused = false;
          this.conn.resume();
        }
        yield ev;
        if (ev.kind === "exit") return;
        continue;
      }
      if (this.err) throw this.err;
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  private arm(ms: number, what: string): void {
    this.timer = setTimeout(() => {
      this.fail(new TimeoutError(`exec ${what}: no exit within ${ms} ms`));
      this.signal(9, true).catch(() => {});
    }, ms);
  }

  private push(ev: ExecEvent): void {
    this.queue.push(ev);
    if (ev.kind !== "exit") {
      this.queued += ev.data.length;
      if (!this.paused && this.queued > MAX_QUEUED) {
        // Back-pressure: the agent stops reading output while ~1 MiB
        // waits on the connection (docs/protocol.md, "exec").
        this.paused = true;
        this.conn.pause();
      }
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
    if (this.exitEv || this.err) {
      const ws = this.exitWaiters;
      this.exitWaiters = [];
      ws.forEach((f) => f());
    }
  }

  private onFrame(f: Frame): void {
    const ev = f.msg.event;
    if (f.msg.type === "error") return this.fail(fromWire("exec", (f.msg.error ?? {}) as object));
    if (f.msg.type !== "event") return;
    if (ev === "exec.stdout") this.push({ kind: "stdout", data: f.body });
    else if (ev === "exec.stderr") this.push({ kind: "stderr", data: f.body });
    else if (ev === "exec.exit") {
      if (this.timer) clearTimeout(this.timer);
      this.conn.release(this.id);
      const code = typeof f.msg.code === "number" ? f.msg.code : null;
      const signal = typeof f.msg.signal === "number" ? f.msg.signal : null;
      this.exitEv = { kind: "exit", exitCode: code, signal, timedOut: f.msg.timed_out === true };
      this.push(this.exitEv);
    }
  }

  private fail(e: KvmboxError): void {
    if (this.exitEv || this.err) return;
    if (this.timer) clearTimeout(this.timer);
    this.conn.release(this.id);
    if (this.paused) {
      this.paused = false;
      this.conn.resume();
    }
    this.err = e;
    this.wake();
  }

  private async sendStdin(chunk: Buffer, eof: boolean): Promise<void> {
    for (let off = 0; off < chunk.length || (eof && off === 0); ) {
      const piece = chunk.subarray(off, off + STDIN_CHUNK);
      off += piece.length;
      const last = off >= chunk.length;
      await this.conn.writable();
      await this.conn.call("exec.stdin", { exec_id: this.id, eof: eof && last }, { body: piece });
      if (last) break;
    }
  }
}
