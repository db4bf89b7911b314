// SPDX-License-Identifier: MIT
/*
 * sandbox: a named kvmbox sandbox (docs/sdk.md). Its life cycle goes
 * through the kvmbox binary, which owns the state folder and its lock
 * (docs/sandboxes.md): create, start, ls --json and rm. Everything done
 * in a running sandbox speaks docs/protocol.md on its control socket,
 * over one connection per Sandbox object, opened when first needed.
 */
import * as nodefs from "node:fs";
import * as path from "node:path";
import { Connection } from "./conn.js";
import { ExecStream, type ExecOptions } from "./exec.js";
import { SandboxFs } from "./fs.js";
import { SandboxPorts } from "./ports.js";
import { kvmboxBin, NAME_RE, runKvmbox, stateRoot } from "./state.js";
import type { ByteString } from "./bytes.js";
import {
  CreateError,
  KvmboxError,
  NotFoundError,
  ProtocolError,
  SandboxExistsError,
  TimeoutError,
  VmGoneError,
} from "./errors.js";

const CONNECT_TIMEOUT_MS = 10000;
const DEFAULT_CREATE_TIMEOUT_MS = 300000;
const DEFAULT_STOP_TIMEOUT_MS = 90000;
const RM_TIMEOUT_MS = 60000;

export interface Volume {
  hostPath: string;
  guestPath: string;
  readonly?: boolean;
}

export interface PortSpec {
  guestPort: number;
  /** Default 0: one the kernel picks (sandbox.ports.list() tells). */
  hostPort?: number;
  hostAddr?: string;
}

export interface CreateOptions {
  /** The sandbox's name: a letter or digit, then up to 62 of [a-zA-Z0-9_.-]. */
  name: string;
  /** An OCI image (docs/images.md); default: the project's root image. */
  image?: string;
  cpus?: number;
  memoryMib?: number;
  /** Added to every command's environment (exec's env wins). */
  env?: Record<string, string>;
  /** Every command's working folder unless exec says otherwise. */
  workdir?: string;
  /** Host folders shared into the guest: objects or "HOST:GUEST[:ro]". */
  volumes?: Array<Volume | string>;
  /** Guest ports published on the host from the start: a guest port, or a spec. */
  ports?: Array<number | PortSpec>;
  /** "none", "user", "passt" or "tap=NAME" (docs/network.md). */
  network?: string;
  /** Keep the writable layer across stop and start. */
  persistent?: boolean;
  /** More `kvmbox run` options, as they are written on its command line. */
  args?: string[];
  /** The kvmbox binary (default $KVMBOX_BIN, else kvmbox in PATH). */
  bin?: string;
  /** How long create may take, boot included (default 300000 ms). */
  timeoutMs?: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The exit status; 128 + N for a command killed by signal N. */
  exitCode: number;
  /** The signal that ended it, if one did. */
  signal: number | null;
  stdoutBytes: Buffer;
  stderrBytes: Buffer;
}

export interface SandboxInfo {
  name: string;
  /** The image, or null for the default root. */
  image: string | null;
  /** running, stopped, exited, dead, unresponsive or creating (docs/sandboxes.md). */
  state: string;
  cpus: number | null;
  memoryMib: number | null;
  uptimeMs: number | null;
  pid: number | null;
  persistent: boolean;
  created: Date | null;
}

export interface SandboxMetrics {
  state: string;
  uptimeMs: number;
  vcpus: number;
  memoryMib: number;
  /** The VMM process's resident memory, and the guest RAM it has touched. */
  vmmRssBytes?: number;
  guestTouchedBytes?: number;
  /** The guest's own view (absent when its agent did not answer in time). */
  guestMemoryUsedBytes?: number;
  guestMemoryTotalBytes?: number;
  guestCpuBusyMs?: number;
  /** The whole `metrics` reply (docs/protocol.md, "status"). */
  raw: Record<string, unknown>;
}

export class Sandbox {
  /** The name, or the socket's path for Sandbox.connect. */
  readonly name: string;
  readonly socketPath: string;
  /** The state folder (null for Sandbox.connect). */
  readonly dir: string | null;
  readonly fs: SandboxFs;
  readonly ports: SandboxPorts;
  private conn: Connection | null = null;
  private connecting: Promise<Connection> | null = null;
  private readonly bin: string;

  private constructor(name: string, dir: string | null, socketPath: string, bin: string) {
    this.name = name;
    this.dir = dir;
    this.socketPath = socketPath;
    this.bin = bin;
    const c = () => this.connection();
    this.fs = new SandboxFs(c);
    this.ports = new SandboxPorts(c);
  }

  /** create: a new named sandbox, booted and ready for exec. */
  static async create(o: CreateOptions): Promise<Sandbox> {
    if (!o || !NAME_RE.test(o.name ?? ""))
      throw new ProtocolError(`${o?.name}: not a sandbox name (a letter or digit, then up to 62 of [a-zA-Z0-9_.-])`, "bad_request");
    const bin = kvmboxBin(o.bin);
    const dir = path.join(stateRoot(), o.name);
    if (nodefs.existsSync(dir)) throw new SandboxExistsError(`a sandbox named ${o.name} exists`);
    const timeoutMs = o.timeoutMs ?? DEFAULT_CREATE_TIMEOUT_MS;
    const argv = ["create", "--name", o.name, "--wait", String(Math.max(1, Math.floor(timeoutMs / 1000)))];
    if (o.persistent) argv.push("--persistent");
    if (o.cpus !== undefined) argv.push("--cpus", String(o.cpus));
    if (o.memoryMib !== undefined) argv.push("--memory", String(o.memoryMib));
    // The VMM gives every exec these unless the request sets its own
    // (docs/protocol.md, exec), whichever process or client sends it.
    for (const [k, v] of Object.entries(o.env ?? {})) argv.push("-e", `${k}=${v}`);
    if (o.workdir !== undefined) argv.push("-w", o.workdir);
    for (const v of o.volumes ?? [])
      argv.push("--volume", typeof v === "string" ? v : `${v.hostPath}:${v.guestPath}${v.readonly ? ":ro" : ""}`);
    for (const p of o.ports ?? []) {
      const s = typeof p === "number" ? { guestPort: p } : p;
      argv.push("--publish", `${s.hostAddr ? `${s.hostAddr}:` : ""}${s.hostPort ?? 0}:${s.guestPort}`);
    }
    if (o.network !== undefined) argv.push("--net", o.network);
    argv.push(...(o.args ?? []));
    if (o.image) argv.push(o.image);
    // create's own wait is its --wait; ours is a little longer.
    const r = await runKvmbox(bin, argv, timeoutMs + 30000);
    if (r.code !== 0) {
      // A failed create removes the folder it made: one there now is
      // another create's, which won the race for the name.
      if (nodefs.existsSync(dir)) throw new SandboxExistsError(`a sandbox named ${o.name} exists`);
      throw new CreateError(`kvmbox create ${o.name} failed (exit ${r.code}): ${r.stderr.trim()}`, r.stderr, r.code);
    }
    return new Sandbox(o.name, dir, path.join(dir, "control.sock"), bin);
  }

  /** get: the sandbox named name (running or not); NotFoundError if none. */
  static async get(name: string, opts: { bin?: string } = {}): Promise<Sandbox> {
    const dir = path.join(stateRoot(), name);
    try {
      if (!NAME_RE.test(name)) throw new Error("not a name");
      JSON.parse(await nodefs.promises.readFile(path.join(dir, "config.json"), "utf8"));
    } catch {
      throw new NotFoundError(`no sandbox named ${name}`);
    }
    return new Sandbox(name, dir, path.join(dir, "control.sock"), kvmboxBin(opts.bin));
  }

  /** connect: any control socket (`kvmbox run --control PATH`), no name. */
  static connect(socketPath: string): Sandbox {
    return new Sandbox(socketPath, null, socketPath, kvmboxBin());
  }

  /** list: every sandbox, as `kvmbox ls --json` reports them. */
  static async list(opts: { bin?: string } = {}): Promise<SandboxInfo[]> {
    const bin = kvmboxBin(opts.bin);
    const r = await runKvmbox(bin, ["ls", "--json"], 60000);
    if (r.code !== 0) throw new KvmboxError(`kvmbox ls --json failed (exit ${r.code}): ${r.stderr.trim()}`);
    let a: Array<Record<string, unknown>>;
    try {
      a = JSON.parse(r.stdout);
    } catch (e) {
      throw new ProtocolError(`kvmbox ls --json: not JSON: ${(e as Error).message}`);
    }
    const num = (v: unknown) => (typeof v === "number" ? v : null);
    return a.map((s) => ({
      name: String(s.name),
      image: typeof s.image === "string" ? s.image : null,
      state: String(s.state),
      cpus: num(s.cpus),
      memoryMib: num(s.memory_mib),
      uptimeMs: num(s.uptime_ms),
      pid: num(s.pid),
      persistent: s.persistent === true,
      created: typeof s.created === "number" ? new Date(s.created * 1000) : null,
    }));
  }

  /** exec: run cmd with args to its end; its output and exit status. */
  async exec(cmd: ByteString, args: ByteString[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    const s = await this.execStream(cmd, args, { ...opts, stdinPipe: opts.stdin !== undefined } as ExecOptions);
    if (opts.stdin !== undefined) s.stdin.end(typeof opts.stdin === "string" ? Buffer.from(opts.stdin) : opts.stdin);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    for await (const ev of s) {
      if (ev.kind === "stdout") out.push(ev.data);
      else if (ev.kind === "stderr") err.push(ev.data);
      else {
        const res: ExecResult = {
          stdoutBytes: Buffer.concat(out),
          stderrBytes: Buffer.concat(err),
          stdout: "",
          stderr: "",
          exitCode: ev.exitCode ?? 128 + (ev.signal ?? 0),
          signal: ev.signal,
        };
        res.stdout = res.stdoutBytes.toString("utf8");
        res.stderr = res.stderrBytes.toString("utf8");
        if (ev.timedOut) throw new TimeoutError(`exec ${String(cmd)}: killed after its timeout`, res);
        return res;
      }
    }
    throw new ProtocolError(`exec ${String(cmd)}: the output ended without an exit`);
  }

  /** shell: a script run by /bin/sh -c. */
  shell(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.exec("/bin/sh", ["-c", script], opts);
  }

  /**
   * execStream: cmd started, its events to iterate and its stdin to
   * write (end() it: the command sees end of file).
   */
  async execStream(cmd: ByteString, args: ByteString[] = [], opts: ExecOptions = {}): Promise<ExecStream> {
    const c = await this.connection();
    const pipe = (opts as { stdinPipe?: boolean }).stdinPipe ?? true;
    return ExecStream.start(c, [cmd, ...args], { ...opts, stdinPipe: pipe });
  }

  /** metrics: what the VM and its guest use now (docs/protocol.md, "metrics"). */
  async metrics(opts: { guestWaitMs?: number } = {}): Promise<SandboxMetrics> {
    const wait = opts.guestWaitMs ?? 2000;
    const r = await (await this.connection()).call("metrics", { guest_wait_ms: wait }, { timeoutMs: wait + 10000 });
    const vmm = (r.vmm ?? {}) as Record<string, number>;
    const guest = r.guest as Record<string, Record<string, number>> | undefined;
    const m: SandboxMetrics = {
      state: String(r.state),
      uptimeMs: Number(r.uptime_ms),
      vcpus: Number(r.vcpus),
      memoryMib: Number(r.memory_mib),
      vmmRssBytes: vmm.rss_bytes,
      guestTouchedBytes: Number(r.memory_touched_bytes ?? vmm.rss_shmem_bytes),
      raw: r,
    };
    if (guest?.memory) {
      m.guestMemoryUsedBytes = guest.memory.used_bytes;
      m.guestMemoryTotalBytes = guest.memory.total_bytes;
    }
    if (guest?.cpu) {
      const c = guest.cpu;
      m.guestCpuBusyMs = Object.entries(c)
        .filter(([k]) => k !== "idle_ms" && k !== "iowait_ms")
        .reduce((a, [, v]) => a + Number(v), 0);
    }
    return m;
  }

  /**
   * stop: the guest stops its processes, syncs and powers off (force:
   * the VM stops at once); resolves once the VMM has ended. The state
   * stays: start() boots it again.
   */
  async stop(opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const pid = this.readPid();
    let c: Connection;
    try {
      c = await this.connection();
    } catch (e) {
      // Not running: stopped already, or dead (which stop cannot mend).
      if (e instanceof VmGoneError && this.dir && pid === null) return;
      throw e;
    }
    try {
      await c.call("stop", { force: !!opts.force }, { timeoutMs });
    } catch (e) {
      // The VM may go down before its answer is sent: the stream's end
      // after a stop is its success too (docs/protocol.md, "stop").
      if (!(e instanceof VmGoneError)) throw e;
    }
    this.close();
    // The VMM removes its socket on its way out; then its pid is gone.
    while (Date.now() < deadline) {
      if (!nodefs.existsSync(this.socketPath) && (pid === null || !alive(pid))) {
        // As `kvmbox stop NAME` does: no pid file means "stopped".
        if (this.dir) nodefs.rmSync(path.join(this.dir, "pid"), { force: true });
        return;
      }
      await sleep(50);
    }
    throw new TimeoutError(`stop ${this.name}: the VMM still runs after ${timeoutMs} ms`);
  }

  /** start: boot a stopped sandbox again (`kvmbox start`). */
  async start(opts: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CREATE_TIMEOUT_MS;
    this.close();
    const r = await runKvmbox(this.bin, ["start", "--wait", String(Math.max(1, Math.floor(timeoutMs / 1000))), this.name], timeoutMs + 30000);
    if (r.code !== 0) throw new CreateError(`kvmbox start ${this.name} failed (exit ${r.code}): ${r.stderr.trim()}`, r.stderr, r.code);
  }

  /**
   * delete: stop the VM at once if it runs and remove the sandbox and
   * its state (`kvmbox rm -f`, which kills a VMM that does not answer).
   */
  async delete(): Promise<void> {
    this.close();
    if (!this.dir) throw new KvmboxError("delete: a socket opened with Sandbox.connect has no sandbox to delete", "bad_request");
    if (!nodefs.existsSync(this.dir)) throw new NotFoundError(`no sandbox named ${this.name}`);
    const r = await runKvmbox(this.bin, ["rm", "-f", this.name], RM_TIMEOUT_MS);
    if (r.code !== 0) {
      if (!nodefs.existsSync(this.dir)) throw new NotFoundError(`no sandbox named ${this.name}`);
      throw new KvmboxError(`kvmbox rm -f ${this.name} failed (exit ${r.code}): ${r.stderr.trim()}`);
    }
  }

  /** close: end this object's connection; its running commands are killed. */
  close(): void {
    this.conn?.close();
    this.conn = null;
    this.connecting = null;
  }

  private async connection(): Promise<Connection> {
    if (this.conn && !this.conn.closed) return this.conn;
    if (!this.connecting)
      this.connecting = Connection.open(this.socketPath, CONNECT_TIMEOUT_MS).then(
        (c) => {
          this.conn = c;
          this.connecting = null;
          return c;
        },
        (e) => {
          this.connecting = null;
          throw e;
        },
      );
    return this.connecting;
  }

  private readPid(): number | null {
    if (!this.dir) return null;
    try {
      const n = Number.parseInt(nodefs.readFileSync(path.join(this.dir, "pid"), "utf8"), 10);
      return Number.isFinite(n) && n > 0 ? n : null;
    } catch {
      return null;
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
