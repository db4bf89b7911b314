#!/usr/bin/env bash
# e2e: tools/kvm-env carries the command's stdin (issue 13: `echo hi |
# tools/run -- cat` printed nothing where L1 stood in for KVM).
#
# Usage: kvm_env_stdin.sh (runs tools/kvm-env itself, three times: in L1
# each is a boot of its own; with a usable /dev/kvm the command runs
# directly and stdin is simply ours)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvm_env=$here/../../tools/kvm-env
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo hi | "$kvm_env" cat >"$work/out" 2>"$work/err"
e2e_result "echo hi | kvm-env cat prints hi" "$([ "$(cat "$work/out")" = hi ]; echo $?)"

# Binary bytes, cut at KVM_ENV_STDIN_MAX with a word on stderr (none in
# the direct case: nothing is cut there).
head -c 3000000 /dev/urandom >"$work/in"
KVM_ENV_STDIN_MAX=1000000 "$kvm_env" sha256sum <"$work/in" >"$work/out" 2>"$work/err"
if grep -q "the rest was dropped" "$work/err"; then
	want=$(head -c 1000000 "$work/in" | sha256sum)
	e2e_result "stdin past KVM_ENV_STDIN_MAX is cut, and kvm-env says so" \
		"$([ "$(cat "$work/out")" = "$want" ]; echo $?)"
else
	want=$(sha256sum <"$work/in")
	e2e_result "3 MB of binary stdin arrive intact (carried whole: KVM is direct)" \
		"$([ "$(cat "$work/out")" = "$want" ]; echo $?)"
fi

# A stdin that never ends (an idle pipe, as CI runners leave: here a
# FIFO we hold open) holds up only a command that reads it.
mkfifo "$work/idle"
exec 5<>"$work/idle"
timeout -k 5 900 "$kvm_env" echo done <"$work/idle" >"$work/out" 2>"$work/err"
exec 5>&-
e2e_result "an idle stdin does not hold up a command that ignores it" \
	"$([ "$(cat "$work/out")" = done ]; echo $?)"
e2e_summary
