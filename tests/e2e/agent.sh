#!/usr/bin/env bash
# e2e: the guest agent as PID 1, reached through virtio-vsock.
#
# Usage: agent.sh KVMBOX KVMBOX_AGENT AGENT_EXEC
# (run inside tools/kvm-env; KVMBOX_KERNEL_DIR names the guest kernel)
#
# Boots an initramfs whose /init is kvmbox-agent (with busybox for the
# commands), and runs commands in the guest from the host over the vsock
# unix socket: output, exit codes, a missing command, then "stop", which
# must end the VMM with status 0.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=$1 agent=$2 client=$3
# Every client call is bounded: a hang fails the check instead of the run.
cl() { timeout -k 5 300 "$client" "$@"; }
kernel=${KVMBOX_KERNEL_DIR:?set KVMBOX_KERNEL_DIR}/vmlinux
work=$(mktemp -d)
trap 'kill $vmm 2>/dev/null; rm -rf "$work"' EXIT

# The same initramfs the build packs for kvmbox run -- CMD.
"$here/../../tools/mk-agent-initrd" "$agent" "$work/initrd.gz"

"$kvmbox" run --kernel "$kernel" --initrd "$work/initrd.gz" --memory 256 --cpus 2 \
	--vsock "$work/v.sock" --timings-json "$work/t.json" >"$work/console" 2>&1 </dev/null &
vmm=$!
E2E_VMM_PID=$vmm E2E_CONSOLE=$work/console

# run NAME WANT_STATUS WANT_STDOUT [-T MS] ARGV...
run() {
	local name=$1 want=$2 out=$3 rc opts=()
	shift 3
	[ "$1" = -T ] && { opts=(-T "$2"); shift 2; }
	cl -t 180 "${opts[@]}" "$work/v.sock" 1024 -- "$@" >"$work/out" 2>"$work/err"
	rc=$?
	if [ $rc -eq "$want" ] && [ "$(cat "$work/out")" = "$out" ]; then
		e2e_result "$name" 0
	else
		echo "  exit $rc (want $want), stdout: $(head -c 200 "$work/out")"
		sed 's/^/  stderr: /' "$work/err" | head -n 5
		e2e_result "$name" 1
	fi
}

run "echo in the guest" 0 "hello from the guest" echo hello from the guest
run "exit code 3" 3 "" sh -c 'exit 3'
run "stdout and stderr" 0 "out" sh -c 'echo out; echo err >&2'
run "death by signal" $((128 + 9)) "" sh -c 'kill -9 $$'
run "guest sees 2 CPUs" 0 "2" nproc
run "missing command fails clearly" 125 "" /no/such/program
grep -q "not_found" "$work/err" || { echo "  no not_found error"; E2E_FAILED=$((E2E_FAILED + 1)); }
run "large output" 0 "$(seq 1 50000 | md5sum)" sh -c 'seq 1 50000 | md5sum'

# stdin piped in: a few lines, then 1 MiB checked by its hash.
printf 'line1\nline2\n' | cl -i -t 180 "$work/v.sock" 1024 -- cat >"$work/out" 2>"$work/err"
rc=$?
ok=1
[ $rc -eq 0 ] && [ "$(cat "$work/out")" = "$(printf 'line1\nline2')" ] && ok=0
[ $ok -eq 0 ] || { echo "  exit $rc: $(head -c 200 "$work/out")"; head -n 5 "$work/err"; }
e2e_result "stdin piped in" $ok
head -c 1048576 /dev/urandom >"$work/in.bin"
cl -i -t 180 "$work/v.sock" 1024 -- md5sum <"$work/in.bin" >"$work/out" 2>"$work/err"
rc=$?
ok=1
[ $rc -eq 0 ] && [ "$(cat "$work/out")" = "$(md5sum <"$work/in.bin")" ] && ok=0
[ $ok -eq 0 ] || { echo "  exit $rc: $(head -c 200 "$work/out")"; head -n 5 "$work/err"; }
e2e_result "1 MiB of stdin arrives intact" $ok

# 32 commands at once, each on its own connection.
cl -n 32 -t 180 "$work/v.sock" 1024 -- sh -c 'echo one' >"$work/out" 2>"$work/err"
rc=$?
ok=1
[ $rc -eq 0 ] && [ "$(grep -c '^one$' "$work/out")" -eq 32 ] && ok=0
[ $ok -eq 0 ] || { echo "  exit $rc, $(grep -c '^one$' "$work/out") outputs"; head -n 5 "$work/err"; }
e2e_result "32 concurrent execs" $ok

# The agent kills a command at its timeout: SIGKILL, 128 + 9.
run "timeout kills the command" $((128 + 9)) "" -T 500 sleep 100

# A client that disconnects mid-stream: the agent kills its command and
# keeps serving.
"$client" -t 60 "$work/v.sock" 1024 -- sh -c 'while :; do echo spam; done' >/dev/null 2>&1 &
spammer=$!
sleep 3
kill -9 $spammer
wait $spammer 2>/dev/null
run "the agent survives a client killed mid-stream" 0 "still here" echo still here

# A pty session: an interactive busybox sh (stdin is a terminal) reads the
# piped lines. With a pty the input is echoed and lines end in \r\n; the ^D
# that our EOF becomes comes after "exit 7", so the shell never reads it.
printf 'tty\necho $((6*7))\nexit 7\n' |
	cl -i -p -t 180 "$work/v.sock" 1024 -- sh >"$work/out" 2>"$work/err"
rc=$?
tr -d '\r' <"$work/out" >"$work/out.txt"
ok=1
[ $rc -eq 7 ] && grep -q '/dev/pts/[0-9]' "$work/out.txt" && grep -q '^42$' "$work/out.txt" &&
	[ ! -s "$work/err" ] && ok=0
[ $ok -eq 0 ] || { echo "  exit $rc (want 7)"; sed 's/^/  out: /' "$work/out.txt" | head -n 20; head -n 5 "$work/err"; }
e2e_result "a pty session runs an interactive shell" $ok

# stop: the agent ends the VM; the VMM exits 0.
cl -s -t 60 "$work/v.sock" 1024 -- true >/dev/null 2>&1
for _ in $(seq 1 300); do kill -0 $vmm 2>/dev/null || break; sleep 0.2; done
kill -9 $vmm 2>/dev/null && echo "  kvmbox still ran 60 s after stop: killed"
wait $vmm
rc=$?
ok=1
[ $rc -eq 0 ] && grep -q '"guest_ready": [0-9]' "$work/t.json" && ok=0
[ $ok -eq 0 ] || { echo "  kvmbox exit $rc"; tr -d '\r' <"$work/console" | tail -n 20; }
e2e_result "stop ends the VM, which marked ready" $ok

# kvmbox run -- CMD: the default agent initramfs beside kvmbox, the
# command's output on stdout, its status as kvmbox's.
krun() {
	e2e_bounded 120 "$work/kconsole" "$kvmbox" run --memory 256 --console "$work/kconsole" -- "$@" \
		>"$work/out" 2>"$work/err" </dev/null
}
krun sh -c 'echo out; echo err >&2; exit 42'
rc=$?
ok=1
[ $rc -eq 42 ] && [ "$(cat "$work/out")" = out ] && grep -q '^err$' "$work/err" && ok=0
[ $ok -eq 0 ] || { echo "  exit $rc"; head -n 5 "$work/out" "$work/err"; tail -n 5 "$work/kconsole"; }
e2e_result "kvmbox run -- CMD: output and exit status" $ok
echo piped | timeout -k 5 120 "$kvmbox" run --memory 256 --console "$work/kconsole" -- cat \
	>"$work/out" 2>"$work/err"
rc=$?
ok=1
[ $rc -eq 0 ] && [ "$(cat "$work/out")" = piped ] && ok=0
[ $ok -eq 0 ] || { echo "  exit $rc"; head -n 5 "$work/out" "$work/err"; tail -n 5 "$work/kconsole"; }
e2e_result "kvmbox run -- CMD: stdin is the command's" $ok
krun /no/such/program
rc=$?
ok=1
[ $rc -eq 127 ] && grep -q "not_found.*ENOENT" "$work/err" && ok=0
[ $ok -eq 0 ] || { echo "  exit $rc"; head -n 5 "$work/err"; }
e2e_result "kvmbox run -- missing command: 127 and a clear error" $ok

# Issue 14, item 11: /dev as an init system leaves it, in the default root.
# Item 13: --timings-json that cannot be written makes the status non-zero
# (/dev/full: opened before the boot, full at the write).
devs='test -L /dev/fd && test -e /dev/fd/0 && test -L /dev/stdin && test -L /dev/stderr &&
	echo via-stdout >/dev/stdout && grep -q " /dev/shm tmpfs " /proc/mounts && echo dev-ok'
e2e_bounded 120 "$work/kconsole" "$kvmbox" run --memory 256 --console "$work/kconsole" \
	--timings-json /dev/full -- sh -c "$devs" >"$work/out" 2>"$work/err" </dev/null
rc=$?
ok=1
[ $rc -eq 1 ] && [ "$(cat "$work/out")" = "$(printf 'via-stdout\ndev-ok')" ] &&
	grep -q -- "--timings-json /dev/full: No space left" "$work/err" && ok=0
[ $ok -eq 0 ] || { echo "  exit $rc (want 1)"; head -n 5 "$work/out" "$work/err"; }
e2e_result "/dev/fd, /dev/std*, /dev/shm; an unwritable --timings-json fails the run" $ok

# Issue 14, item 10: a --rootfs that holds no file system says so.
truncate -s 8M "$work/zeros.img"
e2e_bounded 120 "$work/kconsole" "$kvmbox" run --memory 256 --console "$work/kconsole" \
	--rootfs "$work/zeros.img" -- echo hi >"$work/out" 2>"$work/err" </dev/null
rc=$?
ok=1
[ $rc -eq 126 ] && grep -q "root file system /dev/vda (ext4) could not be mounted: EINVAL" \
	"$work/err" && ok=0
[ $ok -eq 0 ] || { echo "  exit $rc (want 126)"; head -n 5 "$work/out" "$work/err"; }
e2e_result "a --rootfs with no file system: could not be mounted, and why" $ok
e2e_summary
