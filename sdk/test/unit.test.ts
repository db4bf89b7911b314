// SPDX-License-Identifier: MIT
/*
 * The SDK's protocol client against a fake control socket in this
 * process (no KVM): frames split anywhere, exec's events and stdin,
 * fs.write's transfer of fs.data chunks, fs.read's events, errors mapped
 * to their classes, an error with id 0, a connection that ends. The real
 * thing is sdk.test.ts (e2e).
 */
import { test, after } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import {
  encodeFrame,
  ExecStartError,
  FrameDecoder,
  FsError,
  NotFoundError,
  ProtocolError,
  Sandbox,
  VmGoneError,
} from "../src/index.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvmbox-sdk-unit-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

type Msg = Record<string, any>;

/** fake: a control socket whose answers come from serve(msg, body, send). */
function fake(serve: (m: Msg, body: Buffer, send: (m: Msg, body?: Buffer) => void, sock: net.Socket) => void): Promise<string> {
  const p = path.join(dir, `s${crypto.randomBytes(4).toString("hex")}.sock`);
  const srv = net.createServer((sock) => {
    const dec = new FrameDecoder();
    // Frames out in pieces of 7 bytes: the client must join them.
    const send = (m: Msg, body?: Buffer) => {
      const f = encodeFrame(m, body);
      for (let i = 0; i < f.length; i += 7) sock.write(f.subarray(i, i + 7));
    };
    sock.on("data", (d) => {
      for (const f of dec.push(d)) serve(f.msg, f.body, send, sock);
    });
    sock.on("error", () => {});
  });
  after(() => srv.close());
  return new Promise((res) => srv.listen(p, () => res(p)));
}

test("frames: encode, decode in any pieces, refuse bad ones", () => {
  const a = encodeFrame({ id: 1, type: "request", op: "ping" });
  const b = encodeFrame({ id: 2, type: "event", event: "x" }, Buffer.from("body"));
  const all = Buffer.concat([a, b]);
  const dec = new FrameDecoder();
  const got = [];
  for (const byte of all) got.push(...dec.push(Buffer.from([byte])));
  assert.equal(got.length, 2);
  assert.deepEqual(got[0].msg, { id: 1, type: "request", op: "ping" });
  assert.equal(got[1].body.toString(), "body");
  assert.throws(() => new FrameDecoder().push(Buffer.from("XVB1\x02\0\0\0\0\0\0\0{}")), ProtocolError);
  const big = Buffer.alloc(12);
  big.writeUInt32LE(0x3142564b, 0);
  big.writeUInt32LE(65537, 4);
  assert.throws(() => new FrameDecoder().push(big), (e: unknown) => e instanceof ProtocolError && e.code === "too_large");
  assert.throws(() => encodeFrame({}, Buffer.alloc((1 << 20) + 1)), ProtocolError);
});

test("exec: argv and env on the wire, output events, stdin, exit", async () => {
  let seen: Msg = {};
  const sock = await fake((m, body, send) => {
    if (m.op === "exec") {
      seen = m;
      send({ id: m.id, type: "reply", pid: 42 });
      send({ id: m.id, type: "event", event: "exec.stdout" }, Buffer.from("hi "));
      send({ id: m.id, type: "event", event: "exec.stderr" }, Buffer.from("oops"));
    } else if (m.op === "exec.stdin") {
      send({ id: m.id, type: "reply" });
      send({ id: m.exec_id, type: "event", event: "exec.stdout" }, body);
      if (m.eof) send({ id: m.exec_id, type: "event", event: "exec.exit", code: 7 });
    }
  });
  const sb = Sandbox.connect(sock);
  const r = await sb.exec("prog", ["a", Buffer.from([0xff, 0xfe])], { env: { K: "V" }, cwd: "/w", stdin: "in" });
  assert.deepEqual(seen.argv, ["prog", "a", { base64: "//4=" }]);
  assert.deepEqual(seen.env, ["K=V"]);
  assert.equal(seen.cwd, "/w");
  assert.equal(seen.stdin, "pipe");
  assert.equal(typeof seen.timeout_ms, "number");
  assert.deepEqual([r.stdout, r.stderr, r.exitCode], ["hi in", "oops", 7]);
  sb.close();
});

test("exec errors: not started, VM gone, an error with id 0", async () => {
  const sock = await fake((m, _b, send, s) => {
    if (m.argv?.[0] === "missing")
      send({ id: m.id, type: "error", error: { code: "not_found", message: "execve missing: ENOENT" } });
    else if (m.argv?.[0] === "bye") s.destroy();
    else send({ id: 0, type: "error", error: { code: "unavailable", message: "too many clients" } });
  });
  const sb = Sandbox.connect(sock);
  await assert.rejects(sb.exec("missing"), (e: unknown) => e instanceof ExecStartError && e.code === "not_found");
  await assert.rejects(sb.exec("bye"), VmGoneError);
  await assert.rejects(sb.exec("other"), (e: unknown) => e instanceof VmGoneError && e.code === "unavailable");
  await assert.rejects(Sandbox.connect(path.join(dir, "nobody.sock")).exec("x"), VmGoneError);
});

test("fs.write: the first chunk in the request, the rest as fs.data naming it", async () => {
  const parts: Buffer[] = [];
  const ops: string[] = [];
  let xfer = -1;
  const sock = await fake((m, body, send) => {
    ops.push(m.op + (m.eof ? "+eof" : ""));
    parts.push(body);
    if (m.op === "fs.write") {
      xfer = m.id;
      send({ id: m.id, type: "reply" });
    } else if (m.op === "fs.data") {
      assert.equal(m.xfer_id, xfer);
      const size = parts.reduce((a, b) => a + b.length, 0);
      send({ id: m.id, type: "reply", ...(m.eof ? { size } : {}) });
    }
  });
  const sb = Sandbox.connect(sock);
  const data = crypto.randomBytes((3 << 20) + 123);
  assert.equal(await sb.fs.write("/f", data), data.length);
  assert.deepEqual(ops, ["fs.write", "fs.data", "fs.data", "fs.data+eof"]);
  assert.ok(Buffer.concat(parts).equals(data));
  sb.close();
});

test("fs.read, list and file errors", async () => {
  const sock = await fake((m, _b, send) => {
    if (m.op === "fs.read" && m.path === "/f") {
      send({ id: m.id, type: "event", event: "fs.data" }, Buffer.from("abc"));
      send({ id: m.id, type: "event", event: "fs.data" }, Buffer.from("def"));
      send({ id: m.id, type: "reply", size: 6 });
    } else if (m.op === "fs.list") {
      send({ id: m.id, type: "event", event: "fs.entries", entries: [
        { name: "a", kind: "file", size: 1, mode: 420, uid: 0, gid: 0, mtime: 5, mtime_nsec: 0 },
        { name: { base64: "/w==" }, kind: "dir", size: 0, mode: 493, uid: 0, gid: 0, mtime: 5, mtime_nsec: 0 },
      ] });
      send({ id: m.id, type: "reply", count: 2, truncated: false });
    } else if (m.op === "fs.read") {
      send({ id: m.id, type: "error", error: { code: "not_found", errno: "ENOENT", path: m.path, message: "no" } });
    } else {
      send({ id: m.id, type: "error", error: { code: "fs_error", errno: "EACCES", path: m.path, message: "no" } });
    }
  });
  const sb = Sandbox.connect(sock);
  assert.equal(await sb.fs.readToString("/f"), "abcdef");
  const l = await sb.fs.list("/");
  assert.deepEqual(l.map((e) => e.kind), ["file", "dir"]);
  assert.deepEqual(l[1].nameBytes, Buffer.from([0xff]));
  await assert.rejects(sb.fs.read("/nope"), (e: unknown) => e instanceof NotFoundError && e.errno === "ENOENT");
  await assert.rejects(sb.fs.mkdir("/x"), (e: unknown) => e instanceof FsError && e.errno === "EACCES");
  sb.close();
});
