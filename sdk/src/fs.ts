// SPDX-License-Identifier: MIT
/*
 * fs: the guest's files (docs/protocol.md, "File operations"), streamed
 * in frame bodies with back-pressure both ways: reads arrive as fs.data
 * events, writes go out as fs.data requests, a few in flight at once.
 */
import * as nodefs from "node:fs";
import type { Connection } from "./conn.js";
import { bytesFromWire, textFromWire, toWire, type ByteString } from "./bytes.js";
import { FsError, KvmboxError, TimeoutError } from "./errors.js";

/** A client's chunk may be up to the frame's body limit (1 MiB). */
const CHUNK = 1 << 20;
/** Write chunks in flight: enough to keep the link busy. */
const WINDOW = 4;
/** How long one chunk or one small op may take. */
const OP_TIMEOUT_MS = 60000;

export interface Stat {
  kind: "file" | "dir" | "symlink" | "fifo" | "socket" | "char" | "block";
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  /** A symlink's target. */
  target?: string;
}

export interface Entry extends Omit<Stat, "uid" | "gid"> {
  uid: number;
  gid: number;
  /** Relative to the listed folder ("a/b" when recursive). */
  name: string;
  /** The name's bytes, where they are not UTF-8 text. */
  nameBytes?: Buffer;
}

export interface WriteOptions {
  /** The mode of a file it creates (default 0o644). */
  mode?: number;
  /** Add to the end instead of replacing. */
  append?: boolean;
  /** fsync before the last answer. */
  sync?: boolean;
}

function toStat(m: Record<string, unknown>): Stat {
  const s: Stat = {
    kind: m.kind as Stat["kind"],
    size: Number(m.size),
    mode: Number(m.mode),
    uid: Number(m.uid),
    gid: Number(m.gid),
    mtime: new Date(Number(m.mtime) * 1000 + Math.floor(Number(m.mtime_nsec ?? 0) / 1e6)),
  };
  if (m.target !== undefined) s.target = textFromWire(m.target);
  return s;
}

export class SandboxFs {
  constructor(private readonly conn: () => Promise<Connection>) {}

  /** read: the whole file (or length bytes from offset) as a Buffer. */
  async read(path: ByteString, opts: { offset?: number; length?: number } = {}): Promise<Buffer> {
    const parts: Buffer[] = [];
    await this.readTo(path, (b) => parts.push(b), opts);
    return Buffer.concat(parts);
  }

  /** readToString: the file as UTF-8 text. */
  async readToString(path: ByteString): Promise<string> {
    return (await this.read(path)).toString("utf8");
  }

  /**
   * write: data as the file's contents (created, or emptied first unless
   * append), streamed in chunks; resolves once the file is closed.
   */
  async write(path: ByteString, data: string | Uint8Array, opts: WriteOptions = {}): Promise<number> {
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
    let off = 0;
    return this.writeFrom(path, opts, async () => {
      const piece = buf.subarray(off, off + CHUNK);
      off += piece.length;
      return piece.length ? piece : null;
    });
  }

  /** list: a folder's entries (recursive: all below it, names "a/b"). */
  async list(path: ByteString, opts: { recursive?: boolean; limit?: number } = {}): Promise<Entry[]> {
    const c = await this.conn();
    const out: Entry[] = [];
    const fields: Record<string, unknown> = { path: toWire(path), recursive: !!opts.recursive };
    if (opts.limit) fields.limit = opts.limit;
    await c.call("fs.list", fields, {
      timeoutMs: OP_TIMEOUT_MS * 5,
      onEvent: (f) => {
        for (const e of (f.msg.entries ?? []) as Array<Record<string, unknown>>) {
          const ent: Entry = { ...toStat(e), name: textFromWire(e.name) };
          if (typeof e.name !== "string") ent.nameBytes = bytesFromWire(e.name);
          out.push(ent);
        }
      },
    });
    return out;
  }

  /** stat: what is at path (a symlink itself unless follow). */
  async stat(path: ByteString, opts: { follow?: boolean } = {}): Promise<Stat> {
    const c = await this.conn();
    return toStat(await c.call("fs.stat", { path: toWire(path), follow: !!opts.follow }, { timeoutMs: OP_TIMEOUT_MS }));
  }

  /** exists: whether anything is at path. */
  async exists(path: ByteString): Promise<boolean> {
    try {
      await this.stat(path);
      return true;
    } catch (e) {
      if (e instanceof KvmboxError && e.code === "not_found") return false;
      throw e;
    }
  }

  /** mkdir: a folder (parents: and the missing ones above it, no error if there). */
  async mkdir(path: ByteString, opts: { parents?: boolean; mode?: number } = {}): Promise<void> {
    const c = await this.conn();
    await c.call("fs.mkdir", { path: toWire(path), parents: !!opts.parents, mode: opts.mode ?? 0o755 }, { timeoutMs: OP_TIMEOUT_MS });
  }

  /** remove: a file, or a folder (recursive: with all in it); the count removed. */
  async remove(path: ByteString, opts: { recursive?: boolean } = {}): Promise<number> {
    const c = await this.conn();
    const r = await c.call("fs.remove", { path: toWire(path), recursive: !!opts.recursive }, { timeoutMs: OP_TIMEOUT_MS * 10 });
    return Number(r.removed ?? 0);
  }

  /** copyIn: a host file into the guest at guestPath (its mode kept); the bytes. */
  async copyIn(hostPath: string, guestPath: ByteString): Promise<number> {
    const st = await nodefs.promises.stat(hostPath);
    if (!st.isFile()) throw new FsError(`copyIn: ${hostPath}: not a regular file`, { errno: "EINVAL" });
    const fh = await nodefs.promises.open(hostPath, "r");
    try {
      return await this.writeFrom(guestPath, { mode: st.mode & 0o7777 }, async () => {
        const b = Buffer.allocUnsafe(CHUNK);
        const { bytesRead } = await fh.read(b, 0, CHUNK, null);
        return bytesRead ? b.subarray(0, bytesRead) : null;
      });
    } finally {
      await fh.close();
    }
  }

  /** copyOut: a guest file to hostPath (replaced; its mode kept); the bytes. */
  async copyOut(guestPath: ByteString, hostPath: string): Promise<number> {
    const st = await this.stat(guestPath, { follow: true });
    const ws = nodefs.createWriteStream(hostPath, { mode: st.mode & 0o777 });
    const c = await this.conn();
    const opened = new Promise<void>((res, rej) => {
      ws.once("open", () => res());
      ws.once("error", rej);
    });
    await opened;
    let n = 0;
    try {
      await this.readTo(guestPath, (b) => {
        n += b.length;
        if (!ws.write(b)) {
          // The disk is slower than the link: stop reading until it drains.
          c.pause();
          ws.once("drain", () => c.resume());
        }
      });
    } finally {
      c.resume();
      await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
    }
    return n;
  }

  private async readTo(path: ByteString, sink: (b: Buffer) => void, opts: { offset?: number; length?: number } = {}): Promise<void> {
    const c = await this.conn();
    const fields: Record<string, unknown> = { path: toWire(path) };
    if (opts.offset !== undefined) fields.offset = opts.offset;
    if (opts.length !== undefined) fields.length = opts.length;
    // A file of any size: the limit is on silence, not on the whole read.
    let last = Date.now();
    const watch = setInterval(() => {
      if (Date.now() - last > OP_TIMEOUT_MS) c.close();
    }, 1000);
    try {
      await c.call("fs.read", fields, {
        timeoutMs: Infinity,
        onEvent: (f) => {
          last = Date.now();
          if (f.msg.event === "fs.data") sink(f.body);
        },
      });
    } catch (e) {
      if (Date.now() - last > OP_TIMEOUT_MS)
        throw new TimeoutError(`fs.read: nothing for ${OP_TIMEOUT_MS} ms`);
      throw e;
    } finally {
      clearInterval(watch);
    }
  }

  /**
   * writeFrom: fs.write with the first chunk of next(), then fs.data
   * requests, WINDOW of them in flight, the last with eof. The size.
   */
  private async writeFrom(path: ByteString, o: WriteOptions, next: () => Promise<Buffer | null>): Promise<number> {
    const c = await this.conn();
    let chunk = await next();
    let after = chunk ? await next() : null;
    const fields: Record<string, unknown> = {
      path: toWire(path),
      mode: o.mode ?? 0o644,
      append: !!o.append,
      sync: !!o.sync,
      eof: after === null,
    };
    let xfer = 0;
    const first = await c.call("fs.write", fields, {
      body: chunk ?? Buffer.alloc(0),
      timeoutMs: OP_TIMEOUT_MS,
      onSent: (id) => (xfer = id),
    });
    if (after === null) return Number(first.size ?? 0);
    // The rest as fs.data requests naming the transfer (the id of
    // fs.write), sent as the socket takes them, their answers read as
    // they come; an error for one chunk ends it all.
    const inflight: Array<Promise<Record<string, unknown>>> = [];
    let failed: unknown = null;
    let last: Promise<Record<string, unknown>> | null = null;
    while (after !== null && failed === null) {
      chunk = after;
      after = await next();
      if (inflight.length >= WINDOW) await inflight.shift()!.catch(() => {});
      if (failed !== null) break;
      await c.writable();
      const p = c.call("fs.data", { xfer_id: xfer, eof: after === null }, { body: chunk, timeoutMs: OP_TIMEOUT_MS });
      p.catch((e) => {
        if (failed === null) failed = e;
      });
      inflight.push(p);
      last = p;
    }
    await Promise.allSettled(inflight);
    if (failed !== null) throw failed;
    return Number((await last!).size ?? 0);
  }
}
