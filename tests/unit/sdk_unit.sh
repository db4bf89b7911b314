#!/usr/bin/env bash
# unit: the TypeScript SDK's protocol client against a fake control socket
# (sdk/test/unit.test.ts; no KVM). Usage: sdk_unit.sh OUT (built there by
# tools/build-sdk). Without node it fails and says so.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: sdk_unit.sh OUT}
command -v node >/dev/null || {
	echo "FAIL: node is not installed: the TypeScript SDK needs Node.js 18 or newer (apt-get install nodejs npm)"
	exit 1
}
"$here/../../tools/build-sdk" "$out" >/dev/null || { echo "FAIL: the SDK did not build"; exit 1; }
exec timeout -k 5 120 node --test "$out/dist/test/unit.test.js"
