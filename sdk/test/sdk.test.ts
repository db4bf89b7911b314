// SPDX-License-Identifier: MIT
/*
 * The SDK against real sandboxes (tests/e2e/sdk.sh runs it in the KVM
 * test environment with `node --test`): every method, streaming with
 * stdin, 50 MiB through fs by hash, many sandboxes at once (20 unless
 * SDK_TEST_PARALLEL says otherwise), typed errors.
 * KVMBOX_BIN names the binary; names start with SDK_TEST_PREFIX.
 */
import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import {
  ExecStartError,
  NotFoundError,
  SandboxExistsError,
  Sandbox,
  TimeoutError,
  VmGoneError,
  type ExecEvent,
} from "../src/index.js";

const prefix = process.env.SDK_TEST_PREFIX ?? `sdk-${process.pid}`;
const main = `${prefix}-main`;
const parallel = Number(process.env.SDK_TEST_PARALLEL ?? 20);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kvmbox-sdk-"));
let sb: Sandbox;

const sha256 = (b: crypto.BinaryLike) => crypto.createHash("sha256").update(b).digest("hex");

async function cleanup(name: string): Promise<void> {
  try {
    await (await Sandbox.get(name)).delete();
  } catch (e) {
    if (!(e instanceof NotFoundError)) throw e;
  }
}

before(async () => {
  sb = await Sandbox.create({ name: main, memoryMib: 256, env: { SDK_VAR: "from-create" }, workdir: "/tmp" });
});

after(async () => {
  await cleanup(main);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("list shows the sandbox running, with its CPUs and memory", async () => {
  const me = (await Sandbox.list()).find((s) => s.name === main);
  assert.ok(me, "in the list");
  assert.equal(me.state, "running");
  assert.equal(me.cpus, 1);
  assert.equal(me.memoryMib, 256);
  assert.equal(me.image, null);
  assert.ok((me.uptimeMs ?? 0) > 0 && (me.pid ?? 0) > 0);
});

test("exec: stdout, stderr and the exit code", async () => {
  const r = await sb.exec("sh", ["-c", "echo out; echo err >&2; exit 3"]);
  assert.deepEqual([r.stdout, r.stderr, r.exitCode, r.signal], ["out\n", "err\n", 3, null]);
});

test("get from a second object: create's env and workdir apply, exec's env wins", async () => {
  const again = await Sandbox.get(main);
  let r = await again.exec("sh", ["-c", 'echo "$SDK_VAR $OTHER"; pwd']);
  assert.equal(r.stdout, "from-create \n/tmp\n");
  r = await again.exec("sh", ["-c", 'echo "$SDK_VAR $OTHER"; pwd'], { env: { SDK_VAR: "mine", OTHER: "x" }, cwd: "/" });
  assert.equal(r.stdout, "mine x\n/\n");
  again.close();
});

test("shell runs a script; exec takes stdin; a signal is reported", async () => {
  assert.equal((await sb.shell("a=6; echo $((a * 7))")).stdout, "42\n");
  assert.equal((await sb.exec("cat", [], { stdin: "through stdin" })).stdout, "through stdin");
  const r = await sb.shell("kill -9 $$");
  assert.deepEqual([r.signal, r.exitCode], [9, 137]);
});

test("execStream: events as they come, stdin written between them", async () => {
  const s = await sb.execStream("sh", ["-c", 'while read l; do echo "got $l"; done; echo bye >&2; exit 5']);
  assert.ok(s.pid > 0);
  const seen: string[] = [];
  s.stdin.write("one\n");
  let exit: Extract<ExecEvent, { kind: "exit" }> | null = null;
  for await (const ev of s) {
    if (ev.kind === "exit") {
      exit = ev;
      break;
    }
    seen.push(`${ev.kind}:${ev.data.toString()}`);
    // Each line is answered before the next is written: a real stream.
    if (ev.kind === "stdout" && ev.data.toString() === "got one\n") s.stdin.write("two\n");
    if (ev.kind === "stdout" && ev.data.toString() === "got two\n") s.stdin.end();
  }
  assert.deepEqual(seen, ["stdout:got one\n", "stdout:got two\n", "stderr:bye\n"]);
  assert.equal(exit?.exitCode, 5);
});

test("execStream: kill and wait", async () => {
  const s = await sb.execStream("sleep", ["60"]);
  await s.kill();
  const ex = await s.wait();
  assert.equal(ex.signal, 9);
});

test("exec past its timeout is a TimeoutError with the output so far", async () => {
  await assert.rejects(sb.shell("echo started; sleep 30", { timeoutMs: 1500 }), (e: unknown) => {
    assert.ok(e instanceof TimeoutError);
    assert.equal((e.partial as { stdout: string }).stdout, "started\n");
    return true;
  });
});

test("fs: write, read, stat, list, mkdir, exists, remove", async () => {
  await sb.fs.mkdir("/tmp/d/e", { parents: true });
  assert.equal(await sb.fs.write("/tmp/d/e/f.txt", "hello fs\n", { mode: 0o600 }), 9);
  assert.equal(await sb.fs.readToString("/tmp/d/e/f.txt"), "hello fs\n");
  assert.deepEqual(await sb.fs.read("/tmp/d/e/f.txt", { offset: 6, length: 2 }), Buffer.from("fs"));
  const st = await sb.fs.stat("/tmp/d/e/f.txt");
  assert.deepEqual([st.kind, st.size, st.mode], ["file", 9, 0o600]);
  await sb.fs.write("/tmp/d/e/f.txt", "more\n", { append: true });
  assert.equal((await sb.exec("cat", ["/tmp/d/e/f.txt"])).stdout, "hello fs\nmore\n");
  const names = (await sb.fs.list("/tmp/d", { recursive: true })).map((e) => `${e.name}:${e.kind}`).sort();
  assert.deepEqual(names, ["e/f.txt:file", "e:dir"]);
  assert.equal(await sb.fs.exists("/tmp/d/e/f.txt"), true);
  assert.ok((await sb.fs.remove("/tmp/d", { recursive: true })) >= 2);
  assert.equal(await sb.fs.exists("/tmp/d"), false);
});

test("fs: 50 MiB in with copyIn and out with copyOut, by sha256", async () => {
  const src = path.join(tmp, "big.in");
  const back = path.join(tmp, "big.out");
  const data = crypto.randomBytes(50 << 20);
  fs.writeFileSync(src, data);
  const want = sha256(data);
  assert.equal(await sb.fs.copyIn(src, "/tmp/big"), 50 << 20);
  const guest = await sb.exec("sha256sum", ["/tmp/big"], { timeoutMs: 120000 });
  assert.equal(guest.stdout.split(" ")[0], want, "the guest's hash");
  assert.equal(await sb.fs.copyOut("/tmp/big", back), 50 << 20);
  assert.equal(sha256(fs.readFileSync(back)), want, "the hash of the copy out");
  // And a Buffer through write and read.
  await sb.fs.write("/tmp/big2", data.subarray(0, 5 << 20));
  assert.equal(sha256(await sb.fs.read("/tmp/big2")), sha256(data.subarray(0, 5 << 20)));
  await sb.fs.remove("/tmp/big");
  await sb.fs.remove("/tmp/big2");
});

test("ports: publish, a connection through to a guest server, list, close", async () => {
  await sb.fs.mkdir("/tmp/www", { parents: true });
  await sb.fs.write("/tmp/www/index.html", "hello port\n");
  const httpd = await sb.execStream("httpd", ["-f", "-p", "127.0.0.1:8080", "-h", "/tmp/www"]);
  const p = await sb.ports.publish(8080);
  assert.ok(p.portId > 0 && (p.hostPort ?? 0) > 0);
  assert.equal(p.guestPort, 8080);
  let body = "";
  for (let i = 0; i < 50 && !body.includes("hello port"); i++) {
    body = await new Promise<string>((resolve) => {
      const c = net.createConnection({ host: "127.0.0.1", port: p.hostPort! });
      let got = "";
      c.on("connect", () => c.write("GET /index.html HTTP/1.0\r\n\r\n"));
      c.on("data", (d) => (got += d.toString()));
      c.on("close", () => resolve(got));
      c.on("error", () => resolve(""));
    });
    if (!body.includes("hello port")) await new Promise((r) => setTimeout(r, 200));
  }
  assert.match(body, /hello port/);
  const listed = (await sb.ports.list()).find((q) => q.portId === p.portId);
  assert.ok(listed && (listed.connections ?? 0) >= 1);
  await sb.ports.close(p);
  assert.equal((await sb.ports.list()).some((q) => q.portId === p.portId), false);
  await httpd.kill();
  await httpd.wait();
});

test("metrics: the VM's and the guest's", async () => {
  const m = await sb.metrics({ guestWaitMs: 10000 });
  assert.equal(m.state, "running");
  assert.equal(m.memoryMib, 256);
  assert.equal(m.vcpus, 1);
  assert.ok(m.uptimeMs > 0 && (m.vmmRssBytes ?? 0) > 0 && (m.guestTouchedBytes ?? 0) > 0);
  assert.ok((m.guestMemoryTotalBytes ?? 0) > 100 << 20, "the guest's memory total");
});

test("typed errors: a missing command, an unknown name, a missing file, a taken name", async () => {
  await assert.rejects(sb.exec("no-such-command-here"), (e: unknown) => e instanceof ExecStartError && e.code === "not_found");
  await assert.rejects(Sandbox.get(`${prefix}-nobody`), NotFoundError);
  await assert.rejects(sb.fs.read("/no/such/file"), (e: unknown) => e instanceof NotFoundError && e.errno === "ENOENT");
  await assert.rejects(Sandbox.create({ name: main }), SandboxExistsError);
});

test("stop, then start: the state stays, exec works again", async () => {
  await sb.stop();
  assert.equal((await Sandbox.list()).find((s) => s.name === main)?.state, "stopped");
  await assert.rejects(sb.exec("true"), VmGoneError);
  await sb.start();
  assert.equal((await sb.exec("echo", ["back"])).stdout, "back\n");
});

test("a sandbox whose VMM was killed: VmGoneError, shown dead, delete cleans it", async () => {
  const name = `${prefix}-killed`;
  const k = await Sandbox.create({ name, memoryMib: 96 });
  assert.equal((await k.exec("true")).exitCode, 0);
  const pid = Number(fs.readFileSync(path.join(k.dir!, "pid"), "utf8"));
  process.kill(pid, "SIGKILL");
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await assert.rejects(k.exec("true"), VmGoneError);
  await assert.rejects((await Sandbox.get(name)).exec("true"), VmGoneError);
  assert.equal((await Sandbox.list()).find((s) => s.name === name)?.state, "dead");
  await k.delete();
  await assert.rejects(Sandbox.get(name), NotFoundError);
});

test(`${parallel} sandboxes created, used and deleted at once`, async () => {
  const names = Array.from({ length: parallel }, (_, i) => `${prefix}-c${i}`);
  const t0 = Date.now();
  const made = await Promise.allSettled(names.map((name) => Sandbox.create({ name, memoryMib: 96, timeoutMs: 900000 })));
  const ok = made.flatMap((m) => (m.status === "fulfilled" ? [m.value] : []));
  try {
    const failed = made.flatMap((m, i) => (m.status === "rejected" ? [`${names[i]}: ${m.reason}`] : []));
    assert.deepEqual(failed, [], "every create succeeded");
    console.log(`# ${parallel} creates in ${Date.now() - t0} ms`);
    const outs = await Promise.all(ok.map((s, i) => s.exec("echo", [String(i)])));
    assert.deepEqual(outs.map((r) => r.stdout), names.map((_, i) => `${i}\n`));
    const listed = new Set((await Sandbox.list()).filter((s) => s.state === "running").map((s) => s.name));
    assert.ok(names.every((n) => listed.has(n)), `all ${parallel} listed as running`);
  } finally {
    const t1 = Date.now();
    await Promise.all(ok.map((s) => s.delete()));
    console.log(`# ${parallel} deletes in ${Date.now() - t1} ms`);
  }
  const left = (await Sandbox.list()).filter((s) => names.includes(s.name));
  assert.deepEqual(left, []);
});

test("delete: the sandbox is gone", async () => {
  await sb.delete();
  await assert.rejects(Sandbox.get(main), NotFoundError);
  assert.equal((await Sandbox.list()).some((s) => s.name === main), false);
});
