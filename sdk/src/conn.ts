// SPDX-License-Identifier: MIT
/*
 * conn: one connection to a control socket (docs/protocol.md, "The
 * control socket"), with requests multiplexed by id. Each request has a
 * handler that sees every message with its id (events before and after
 * the answer, then the reply or error) until it lets go of the id.
 *
 * The socket holds the Node event loop only while a request is in
 * flight (ref/unref), so that a program that forgets close() still
 * ends; the VMM then sees the connection end, and the agent kills the
 * processes this connection started, as the protocol says.
 */
import * as net from "node:net";
import { encodeFrame, FrameDecoder, type Frame } from "./frame.js";
import { fromWire, KvmboxError, ProtocolError, TimeoutError, VmGoneError } from "./errors.js";

/** Ids stop at 2^53 - 1 (docs/protocol.md, "Messages"). */
const MAX_ID = Number.MAX_SAFE_INTEGER;

/** What the connection tells a request's handler. */
export interface Handler {
  /** A message with the request's id: event, reply or error. */
  onFrame(f: Frame): void;
  /** The connection ended (or failed) before the handler let go. */
  onClose(err: KvmboxError): void;
}

export class Connection {
  private readonly sock: net.Socket;
  private readonly dec = new FrameDecoder();
  private readonly handlers = new Map<number, Handler>();
  private nextId = 1;
  private closedErr: KvmboxError | null = null;
  private drainWaiters: Array<() => void> = [];
  readonly path: string;

  private constructor(path: string, sock: net.Socket) {
    this.path = path;
    this.sock = sock;
    sock.on("data", (d: Buffer) => this.onData(d));
    sock.on("drain", () => {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      w.forEach((f) => f());
    });
    sock.on("error", (e) => this.fail(new VmGoneError(`${path}: ${e.message}`, "vm_gone", { cause: e })));
    sock.on("close", () => this.fail(new VmGoneError(`${path}: the control socket's connection ended`)));
    sock.unref();
  }

  /** open: connect to the control socket at path within timeoutMs. */
  static open(path: string, timeoutMs: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ path });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new TimeoutError(`${path}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once("connect", () => {
        clearTimeout(timer);
        sock.removeAllListeners("error");
        resolve(new Connection(path, sock));
      });
      sock.once("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        // No socket, or nobody listens on it: the VMM is not running.
        reject(new VmGoneError(`${path}: ${e.code ?? e.message}: the sandbox's VMM is not running`, "vm_gone", { cause: e }));
      });
    });
  }

  get closed(): boolean {
    return this.closedErr !== null;
  }

  /**
   * send: a request for op with fields and body; h gets its messages.
   * Returns the id. Throws when the connection is gone.
   */
  send(op: string, fields: object, body: Uint8Array | undefined, h: Handler): number {
    if (this.closedErr) throw this.closedErr;
    const id = this.nextId;
    this.nextId = this.nextId >= MAX_ID ? 1 : this.nextId + 1;
    const frame = encodeFrame({ ...fields, id, type: "request", op }, body);
    this.handlers.set(id, h);
    this.sock.ref();
    this.sock.write(frame);
    return id;
  }

  /** release: the handler of id is done; no more messages go to it. */
  release(id: number): void {
    this.handlers.delete(id);
    if (this.handlers.size === 0) this.sock.unref();
  }

  /** writable: resolves once the socket's buffer has room (back-pressure). */
  writable(): Promise<void> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    if (!this.sock.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** pause, resume: stop and go on reading (a slow consumer of data). */
  pause(): void {
    this.sock.pause();
  }
  resume(): void {
    this.sock.resume();
  }

  /**
   * call: one request answered by one reply; events go to onEvent. A
   * reply after timeoutMs is an error (TimeoutError) and is ignored.
   */
  call(op: string, fields: object = {}, opts: CallOpts = {}): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      let id = 0;
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        this.release(id);
      };
      const h: Handler = {
        onFrame: (f) => {
          const t = f.msg.type;
          if (t === "event") {
            opts.onEvent?.(f);
          } else if (t === "reply") {
            done();
            resolve(f.msg);
          } else if (t === "error") {
            done();
            reject(fromWire(op, (f.msg.error ?? {}) as object));
          }
        },
        onClose: (err) => {
          if (timer) clearTimeout(timer);
          reject(err);
        },
      };
      try {
        id = this.send(op, fields, opts.body, h);
        opts.onSent?.(id);
      } catch (e) {
        reject(e);
        return;
      }
      const ms = opts.timeoutMs ?? 30000;
      if (ms !== Infinity)
        timer = setTimeout(() => {
          this.release(id);
          reject(new TimeoutError(`${op}: no answer within ${ms} ms`));
        }, ms);
    });
  }

  /** close: end the connection (the agent kills what it started). */
  close(): void {
    this.sock.end();
    this.sock.destroy();
    this.fail(new VmGoneError(`${this.path}: the connection was closed`, "closed"));
  }

  private onData(d: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.dec.push(d);
    } catch (e) {
      this.sock.destroy();
      this.fail(e as KvmboxError);
      return;
    }
    for (const f of frames) {
      const id = f.msg.id;
      if (id === 0 && f.msg.type === "error") {
        // About the connection: the end of everything asked on it.
        const err = fromWire("connection", (f.msg.error ?? {}) as object);
        this.sock.destroy();
        this.fail(err);
        return;
      }
      if (typeof id !== "number") {
        this.fail(new ProtocolError(`${this.path}: a message without a numeric id`));
        this.sock.destroy();
        return;
      }
      this.handlers.get(id)?.onFrame(f);
    }
  }

  private fail(err: KvmboxError): void {
    if (this.closedErr) return;
    this.closedErr = err;
    const hs = [...this.handlers.values()];
    this.handlers.clear();
    this.sock.unref();
    hs.forEach((h) => h.onClose(err));
    const w = this.drainWaiters;
    this.drainWaiters = [];
    w.forEach((f) => f());
  }
}

export interface CallOpts {
  body?: Uint8Array;
  timeoutMs?: number;
  onEvent?: (f: Frame) => void;
  /** Told the request's id once it is sent (fs.write's transfer id). */
  onSent?: (id: number) => void;
}
