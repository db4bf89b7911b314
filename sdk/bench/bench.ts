// SPDX-License-Identifier: MIT
/*
 * bench: the SDK's side of tools/bench-sandbox (docs/sdk.md,
 * "Benchmark"). `node OUT/bench/bench.js NAME N` creates sandbox
 * NAME (the default root), times the create call to the first exec of
 * `true` that succeeds, runs N more execs of `true` one after another,
 * prints one JSON line {"create_to_first_exec_ms":X,"exec_per_s":Y} and
 * deletes the sandbox.
 */
import { Sandbox } from "../src/index.js";

async function main(): Promise<number> {
  const [name, nArg] = process.argv.slice(2);
  const n = Number(nArg);
  if (!name || !Number.isInteger(n) || n < 1) {
    process.stderr.write("usage: node bench.js NAME N (N >= 1 exec round trips)\n");
    return 2;
  }
  const t0 = process.hrtime.bigint();
  const sb = await Sandbox.create({ name });
  try {
    const first = await sb.exec("true");
    if (first.exitCode !== 0) throw new Error(`the first exec of true exited ${first.exitCode}`);
    const createMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const r = await sb.exec("true");
      if (r.exitCode !== 0) throw new Error(`exec ${i} of true exited ${r.exitCode}`);
    }
    const s = Number(process.hrtime.bigint() - t1) / 1e9;
    const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
    process.stdout.write(JSON.stringify({ create_to_first_exec_ms: round(createMs, 1), exec_per_s: round(n / s, 1) }) + "\n");
  } finally {
    await sb.delete();
  }
  return 0;
}

main().then(
  (rc) => (process.exitCode = rc),
  (e) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
