#!/usr/bin/env bash
# The local sources against what real tools write: umoci builds an OCI
# image layout (two layers), skopeo copies it to a docker-archive (skopeo's
# docker save format) and to a second tag; oci_probe reads each through
# oci/source_layout.c or oci/source_archive.c, checking every blob by its
# digest. Skips (77) when umoci or skopeo is not installed.
#
# Usage: oci_tools.sh OCI_PROBE
set -uo pipefail

probe=$1
for tool in umoci skopeo; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool not installed"
		exit 77
	fi
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
passed=0 failed=0

# check NAME CONDITION...: a line for it, counted.
check() {
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
	else
		echo "FAIL $name" >&2
		failed=$((failed + 1))
	fi
}

# Quiet tools: their output only when they fail.
run() {
	if ! "$@" >"$work/tool.log" 2>&1; then
		cat "$work/tool.log" >&2
		echo "FAIL: $*" >&2
		exit 1
	fi
}

run umoci init --layout L
run umoci new --image L:t
echo hello >a
echo world >b
run umoci insert --rootless --image L:t a /etc/a
run umoci insert --rootless --image L:t b /etc/b
run skopeo copy oci:L:t "docker-archive:$work/img.tar:x/y:t"
# One line each: what the probe saw.
"$probe" oci:L:t >layout.out 2>layout.err
check "layout reads" test $? = 0
"$probe" "docker-archive:$work/img.tar:x/y:t" >archive.out 2>archive.err
check "archive reads by name" test $? = 0
"$probe" "docker-archive:$work/img.tar" >archive1.out 2>&1
check "archive reads its first image" test $? = 0
cat layout.err archive.err >&2

check "layout: two layers" test "$(grep -c '^layer ' layout.out)" = 2
check "layout: gzip layers" test "$(grep -c '^layer .*tar+gzip$' layout.out)" = 2
check "archive: two layers" test "$(grep -c '^layer ' archive.out)" = 2
check "the same config" test "$(grep '^config' layout.out)" = "$(grep '^config' archive.out)"
# The archive keeps layers uncompressed: their digests are the config's diff_ids.
check "archive layers are the diff_ids" test \
	"$(grep '^layer' archive.out | cut -d' ' -f2)" = "$(grep '^diff_id' archive.out | cut -d' ' -f2)"
check "same manifest by name or not" \
	test "$(grep '^manifest' archive.out)" = "$(grep '^manifest' archive1.out)"

# A name the archive does not have; a second tag makes "oci:L" ambiguous.
"$probe" "docker-archive:$work/img.tar:x/y:nope" >/dev/null 2>err
check "archive: unknown name refused" grep -q 'no image tagged docker.io/x/y:nope' err
run skopeo copy oci:L:t oci:L:t2
"$probe" oci:L:t2 >/dev/null 2>&1
check "layout: second tag" test $? = 0
"$probe" oci:L >/dev/null 2>err
check "layout: no tag with two refused" grep -q 'tags: t, t2' err

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
