#!/usr/bin/env bash
# e2e: the TypeScript SDK (sdk/, docs/sdk.md) against real sandboxes.
#
# Usage: sdk.sh KVMBOX OUT
#
# On the host: builds the SDK into OUT with tools/build-sdk (npm ci once
# per lockfile, cached under ~/.cache/kvmbox; tsc outside the source
# tree), takes the TypeScript example out of README.md and compiles it
# against the SDK's types, then runs itself in tools/kvm-env: one L1 for
# everything, which needs no network. There: the README's example as
# written, the benchmark (sdk/bench/bench.ts) once, and the SDK's tests
# with `node --test` (sdk/test/sdk.test.ts). Without node the test
# fails and says so.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=${1:?usage: sdk.sh KVMBOX OUT}
out=${2:?usage: sdk.sh KVMBOX OUT}

if [ "${KVMBOX_SDK_E2E_IN_ENV:-}" != 1 ]; then
	if ! command -v node >/dev/null; then
		echo "FAIL: node is not installed: the SDK's e2e test needs Node.js 18 or newer" \
			"(apt-get install nodejs npm)"
		exit 1
	fi
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
	"$here/../../tools/build-sdk" "$out" >/dev/null || { echo "FAIL: the SDK did not build"; exit 1; }
	# The README's example: the ```ts block after the marker line, as
	# written, compiled against the SDK (resolved as the package kvmbox).
	ex=$out/readme
	rm -rf "$ex" && mkdir -p "$ex/node_modules"
	ln -s "$out" "$ex/node_modules/kvmbox"
	awk '/<!-- sdk-example -->/ { on = 1; next } on && /^```ts/ { copy = 1; next }
		copy && /^```/ { exit } copy { print }' "$here/../../README.md" >"$ex/example.mts"
	lines=$(wc -l <"$ex/example.mts")
	if [ "$lines" -lt 5 ] || [ "$lines" -gt 12 ]; then
		echo "FAIL: README.md's SDK example (after <!-- sdk-example -->) has $lines lines"
		exit 1
	fi
	deps=$(ls -d "${KVMBOX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmbox}"/sdk-deps/"$(sha256sum \
		"$here/../../sdk/package-lock.json" | cut -c1-16)")
	cat >"$ex/tsconfig.json" <<JSON
{ "compilerOptions": { "target": "es2022", "module": "nodenext", "strict": true,
  "typeRoots": ["$deps/node_modules/@types"], "types": ["node"], "outDir": "." },
  "files": ["example.mts"] }
JSON
	"$deps/node_modules/.bin/tsc" -p "$ex/tsconfig.json" || { echo "FAIL: README.md's example does not compile"; exit 1; }
	# L1 shares the current folder, the repository and the cache; the
	# build folder with kvmbox, its share/ and OUT must be there too.
	export KVMBOX_SDK_E2E_IN_ENV=1
	KVM_ENV_SHARE="$(dirname "$kvmbox"):$out${KVM_ENV_SHARE:+:$KVM_ENV_SHARE}"
	export KVM_ENV_SHARE
	# 20 sandboxes at once: room beside the test's own.
	export KVM_ENV_MEM=${KVM_ENV_MEM:-6144}
	export KVM_ENV_VARS="SDK_TEST_PARALLEL ${KVM_ENV_VARS:-}"
	exec "$here/../../tools/kvm-env" "$0" "$kvmbox" "$out"
fi

: "${KVMBOX_KERNEL_DIR:?set KVMBOX_KERNEL_DIR}"
export KVMBOX_BIN=$kvmbox
unset XDG_RUNTIME_DIR KVMBOX_SANDBOX_DIR
prefix=sdk$$
work=$(mktemp -d)
# cleanup: whatever a failed run left, every sandbox of this run's prefix
# and the README's.
cleanup() {
	local d
	for d in "/tmp/kvmbox-$(id -u)/$prefix"* "/tmp/kvmbox-$(id -u)/readme-demo"; do
		[ -d "$d" ] && timeout 60 "$kvmbox" rm -f "$(basename "$d")" >/dev/null 2>&1
	done
	rm -rf "$work"
}
trap cleanup EXIT
echo "node $(node --version), L1 memory: $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo)"

# The example and the benchmark first: they are quick, and what they
# print is out before the long part (20 sandboxes at once).
(cd "$out/readme" && timeout -k 10 300 node example.mjs) >"$work/ex.out" 2>&1
rc=$?
sed 's/^/  example: /' "$work/ex.out"
e2e_result "README.md's TypeScript example runs as written" "$rc"

timeout -k 10 300 node "$out/bench/bench.js" "${prefix}-bench" 20 >"$work/bench.out" 2>&1
rc=$?
sed 's/^/  bench: /' "$work/bench.out"
check_bench() {
	[ "$rc" = 0 ] && [ "$(wc -l <"$work/bench.out")" = 1 ] &&
		node -e 'const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
			if (!(o.create_to_first_exec_ms > 0 && o.exec_per_s > 0) || Object.keys(o).length !== 2) process.exit(1)' \
			"$work/bench.out" &&
		[ ! -e "/tmp/kvmbox-$(id -u)/${prefix}-bench" ]
}
check_bench
e2e_result "bench.js prints one JSON line and deletes its sandbox" $?

# Sandboxes at once: 20 with hardware KVM. Under nested emulation (L1),
# 20 at once crashed L1's own kernel in both tries (a kernel stack
# overflow in a vCPU thread of L1's kvm-amd, the emulated-host fault of
# docs/architecture.md), so there 8, unless SDK_TEST_PARALLEL says.
if [ -z "${SDK_TEST_PARALLEL:-}" ]; then
	SDK_TEST_PARALLEL=20
	[ "${KVM_ENV_L1:-}" = 1 ] && SDK_TEST_PARALLEL=8
fi
export SDK_TEST_PARALLEL
SDK_TEST_PREFIX=$prefix timeout -k 10 1500 node --test --test-reporter=spec \
	"$out/dist/test/sdk.test.js" 2>&1 | tee "$work/test.out"
rc=${PIPESTATUS[0]}
e2e_result "node --test sdk.test.js ($(grep -cE '^ *✔' "$work/test.out") passed)" "$rc"

e2e_summary
