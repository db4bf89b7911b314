#!/usr/bin/env bash
# Bad input to `kvmbox run` gets one clear line on stderr and a non-zero
# exit, never a crash. Runs natively: every one of these is refused before
# /dev/kvm is opened.
#
# Usage: cli_errors.sh KVMBOX   (KVMBOX_KERNEL_DIR must name the kernel)
set -uo pipefail

kvmbox=$1
kdir=${KVMBOX_KERNEL_DIR:?set KVMBOX_KERNEL_DIR}
work=$(mktemp -d)
mute_pid=
trap '[ -z "$mute_pid" ] || kill "$mute_pid"; rm -rf "$work"' EXIT
passed=0 failed=0

head -c 100000 "$kdir/bzImage" >"$work/truncated-bzImage"
head -c 300000 "$kdir/vmlinux" >"$work/truncated-vmlinux"
printf 'this is not a kernel\n%.0s' $(seq 1000) >"$work/text"
truncate -s 48M "$work/big-initrd"
truncate -s 31M "$work/tight-initrd"
cp /bin/true "$work/elf-program"

# expect NAME STATUS PATTERN ARGS...: exit STATUS, one stderr line matching PATTERN;
# kvmbox runs with the variables in expect_env (NAME=VALUE words) set.
expect_env=()
expect() {
	local name=$1 want=$2 pattern=$3 rc lines
	shift 3
	env ${expect_env[@]+"${expect_env[@]}"} "$kvmbox" "$@" >"$work/out" 2>"$work/err" </dev/null
	rc=$?
	lines=$(wc -l <"$work/err")
	if [ "$rc" = "$want" ] && [ "$lines" = 1 ] && grep -qE -e "$pattern" "$work/err"; then
		echo "PASS $name: $(cat "$work/err")"
		passed=$((passed + 1))
	else
		echo "FAIL $name: exit $rc (want $want), $lines stderr lines:"
		sed 's/^/  /' "$work/err" | head -n 10
		failed=$((failed + 1))
	fi
}

k="$kdir/bzImage"
expect "missing kernel" 1 "No such file" run --kernel "$work/nope"
expect "directory as kernel" 1 "not a regular" run --kernel "$work"
expect "text file as kernel" 1 "not a bootable" run --kernel "$work/text"
expect "program as kernel" 1 "not a bootable" run --kernel "$work/elf-program"
expect "truncated bzImage" 1 "truncated" run --kernel "$work/truncated-bzImage"
expect "truncated vmlinux" 1 "truncated" run --kernel "$work/truncated-vmlinux"
expect "missing initrd" 1 "No such file" run --kernel "$k" --initrd "$work/nope"
expect "initrd too large" 1 "initrd" run --kernel "$k" --initrd "$work/big-initrd" --memory 32
expect "initrd left no room" 1 "initrd" run --kernel "$k" --initrd "$work/tight-initrd" --memory 32
expect "memory 1 MiB" 2 "--memory" run --kernel "$k" --memory 1
expect "memory not a number" 2 "--memory" run --kernel "$k" --memory lots
expect "cpus 0" 2 "--cpus" run --kernel "$k" --cpus 0
expect "cpus 1000" 2 "--cpus" run --kernel "$k" --cpus 1000
expect "cpus negative" 2 "--cpus" run --kernel "$k" --cpus -1
expect "seccomp bad mode" 2 "--seccomp maybe: give kill, log or off" run --kernel "$k" --seccomp maybe
expect "seccomp trap refused" 2 "--seccomp trap: give kill, log or off" run --kernel "$k" --seccomp trap
expect "seccomp no value" 2 "--seccomp needs a value" run --kernel "$k" --seccomp
KVMBOX_SECCOMP=nope expect "KVMBOX_SECCOMP bad" 2 "KVMBOX_SECCOMP=nope" run --kernel "$k"
KVMBOX_KERNEL_DIR= KVMBOX_KERNEL= expect "no kernel" 2 "--kernel" run
expect "unknown option" 2 "unrecognized|invalid" run --kernel "$k" --frobnicate
expect "net, unknown mode" 2 "expected none, user, passt, tap=NAME or tap-fd=N" run --kernel "$k" --net bridge
expect "net, tap name too long" 2 "at most 15 bytes" run --kernel "$k" --net tap=abcdefghijklmnopq
expect "net, tap, bad address" 2 "A.B.C.D/N" run --kernel "$k" --net tap=t0,ip=10.0.0.1
expect "net, tap, gateway elsewhere" 2 "gateway" run --kernel "$k" \
	--net tap=t0,ip=10.0.0.2/24,gw=10.1.0.1
expect "net-allow, host bits" 2 "no bits set past" run --kernel "$k" --net user \
	--net-allow 10.0.2.15/24
expect "net-deny, bad port" 2 "--net-deny" run --kernel "$k" --net user --net-deny 1.2.3.4:65536
expect "net-policy, unknown" 2 "public, all or none" run --kernel "$k" --net user --net-policy open
expect "net rules without a network" 2 "need a network" run --kernel "$k" --net-deny 1.2.3.4
expect "volume without a guest path" 2 "HOSTDIR:GUESTPATH" run --kernel "$k" --volume "$work"
expect "volume, relative guest path" 2 "absolute" run --kernel "$k" --volume "$work:data"
expect "volume, unknown option" 2 "unknown option bogus" run --kernel "$k" --volume "$work:/d:ro,bogus"
expect "volume, unknown cache" 2 "unknown option cache=sometimes" run --kernel "$k" \
	--volume "$work:/d:cache=sometimes"
expect "rootfs-dir, unknown option" 2 "unknown option rw2" run --kernel "$k" --rootfs-dir "$work,rw2"

# Issue 14, item 16: an over-long command line says so, and its limit.
long=$(printf 'x%.0s' $(seq 3000))
expect "append too long" 1 "command line is too long: [0-9]+ bytes.*at most [0-9]+" \
	run --kernel "$k" --append "$long"

# The jail (docs/jail.md): its options are refused before anything is
# made or opened, whoever runs this (the folder's checks come before the
# check that we are root).
j=(--jail "$work" --uid 5 --gid 5)
expect "jail, uid not a number" 2 "--uid nobody: expected a number from 1" \
	run --kernel "$k" --jail "$work" --uid nobody --gid 5
expect "jail, uid 0" 2 "--uid 0: the jail's user must not be root" \
	run --kernel "$k" --jail "$work" --uid 0 --gid 5
expect "jail without --uid and --gid" 2 "--jail needs --uid U and --gid G" \
	run --kernel "$k" --jail "$work"
expect "jail, missing folder" 2 "--jail .*/nope: No such file" \
	run --kernel "$k" --jail "$work/nope" --uid 5 --gid 5
expect "jail, not a folder" 2 "--jail .*/text: not a folder" \
	run --kernel "$k" --jail "$work/text" --uid 5 --gid 5
expect "jail, relative folder" 2 "--jail jail: expected an absolute path" \
	run --kernel "$k" --jail jail --uid 5 --gid 5
expect "uid without a jail" 2 "go with --jail DIR" run --kernel "$k" --uid 5
expect "memory-max without a jail" 2 "go with --jail DIR" run --kernel "$k" --memory-max 64
expect "jail, bad cpu-max" 2 "--cpu-max 10: expected QUOTA" run --kernel "$k" "${j[@]}" --cpu-max 10
expect "jail, pids-max 0" 2 "--pids-max 0: expected a number" run --kernel "$k" "${j[@]}" --pids-max 0
# passt is started before the jail's namespaces: where there is none,
# that is the one error, before any namespace or fork.
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$work/no-passt"
	expect_env=(PATH="$work/no-passt")
	expect "jail and passt, no passt installed" 1 "--net passt: passt not found" \
		run --kernel "$k" "${j[@]}" --net passt
	expect_env=()
fi
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	setpriv --reuid 65534 --regid 65534 --clear-groups "$kvmbox" run --kernel "$k" \
		--jail /tmp --uid 5 --gid 5 >"$work/out" 2>"$work/err" </dev/null
	rc=$?
elif [ "$(id -u)" != 0 ]; then
	"$kvmbox" run --kernel "$k" --jail /tmp --uid 5 --gid 5 >"$work/out" 2>"$work/err" </dev/null
	rc=$?
else
	rc=skip
fi
if [ "$rc" = skip ]; then
	echo "SKIP jail as a user: no setpriv to become one"
elif [ "$rc" = 2 ] && [ "$(wc -l <"$work/err")" = 1 ] && grep -q "needs root" "$work/err"; then
	echo "PASS jail as a user: $(cat "$work/err")"
	passed=$((passed + 1))
else
	echo "FAIL jail as a user: exit $rc (want 2):"
	sed 's/^/  /' "$work/err" | head -n 5
	failed=$((failed + 1))
fi

# Issue 14, item 9: disk images are locked as QEMU locks them, and a
# refusal names the holder.
truncate -s 1M "$work/disk.img"
expect "one image twice read-write" 1 "in use by this kvmbox" \
	run --kernel "$k" --disk "$work/disk.img" --disk "$work/disk.img"
expect "one image read-write and read-only" 1 "in use by this kvmbox" \
	run --kernel "$k" --disk "$work/disk.img" --disk "$work/disk.img,ro"
python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "r+b")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(60)
' "$work/disk.img" "$work/locked" &
holder=$!
for _ in $(seq 50); do [ -e "$work/locked" ] && break; sleep 0.1; done
expect "an image another program writes" 1 "in use by pid $holder \\(python3" \
	run --kernel "$k" --disk "$work/disk.img,ro"
kill "$holder"

# Issue 14, item 7: --console follows no symlink, and its cap is a number.
ln -s "$work/text" "$work/console-link"
expect "console through a symlink" 1 "--console .*: a symbolic link" \
	run --kernel "$k" --console "$work/console-link"
check_text=$(head -c 20 "$work/text")
expect "console-max not a number" 2 "--console-max" run --kernel "$k" --console-max lots

# Issue 14, item 13: outputs are checked before the boot.
expect "timings-json in a missing folder" 1 "--timings-json .*: No such file" \
	run --kernel "$k" --timings-json "$work/nodir/t.json"

# Issue 14, item 8: a socket that accepts and never answers. Every client
# wait has a deadline (--wait) and says what it waited for.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
held = []
while True:
    held.append(s.accept()[0])
' "$work/mute.sock" &
mute_pid=$!
for _ in $(seq 50); do [ -S "$work/mute.sock" ] && break; sleep 0.1; done
expect "status on a mute socket" 1 "no answer from .* within 1 s" status --wait 1 "$work/mute.sock"
expect "stop on a mute socket" 1 "no answer from .* within 1 s" stop --wait 1 "$work/mute.sock"
expect "exec on a mute socket" 125 "no answer from the agent within 1 s" \
	exec --wait 1 "$work/mute.sock" -- true
expect "status --wait not a number" 2 "--wait" status --wait soon "$work/mute.sock"
expect "metrics --interval under 0.1 s" 2 "--interval 0.01: expected seconds from 0.1" \
	metrics --interval 0.01 "$work/mute.sock"
expect "metrics --count 0" 2 "--count" metrics --count 0 "$work/mute.sock"
expect "metrics on a missing socket" 1 "control socket .*No such file" metrics "$work/nope.sock"

# The file behind the refused symlink was not touched.
if [ "$(head -c 20 "$work/text")" = "$check_text" ]; then
	echo "PASS the symlink's target is untouched"
	passed=$((passed + 1))
else
	echo "FAIL the symlink's target was written or truncated"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
