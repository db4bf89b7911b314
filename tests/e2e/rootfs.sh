#!/usr/bin/env bash
# e2e: the default guest root. The agent alone in the initramfs
# (tools/mk-agent-initrd --bare) mounts the ext4 image of tools/mk-rootfs
# from kvmbox.root=/dev/vda and switches into it, staying PID 1.
#
# Usage: rootfs.sh KVMBOX KVMBOX_AGENT AGENT_EXEC
# (run inside tools/kvm-env; KVMBOX_KERNEL_DIR names the guest kernel)
#
# Boots 1: the image read-only (--disk IMG,ro): commands come from the
# disk, / is /dev/vda and read-only, the API file systems are there, /tmp
# is writable. 2: a copy read-write: a file written, then "stop". 3: that
# copy read-only again: the file is there, so the agent left the file
# system clean (a read-only disk cannot replay a journal). 4: the copy
# read-write but with kvmbox.rootflags=ro.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=$1 agent=$2 client=$3
tools=$here/../../tools
# Every client call is bounded: a hang fails the check instead of the run.
cl() { timeout -k 5 300 "$client" "$@"; }
kernel=${KVMBOX_KERNEL_DIR:?set KVMBOX_KERNEL_DIR}/vmlinux
# On L1's own tmpfs: never a socket or a disk image on a 9p share.
work=$(mktemp -d)
vmm=
trap '[ -n "$vmm" ] && kill $vmm 2>/dev/null; rm -rf "$work"' EXIT

"$tools/mk-rootfs" "$agent" "$work/rootfs.ext4"
"$tools/mk-agent-initrd" --bare "$agent" "$work/bare.gz"
cp "$work/rootfs.ext4" "$work/rw.ext4"

# boot NAME DISK [APPEND...]: start a VM on DISK (kvmbox's --disk value)
# whose agent answers on $work/v.sock; its console goes to $work/NAME.log.
boot() {
	local name=$1 disk=$2
	shift 2
	rm -f "$work/v.sock"
	"$kvmbox" run --kernel "$kernel" --initrd "$work/bare.gz" --memory 256 \
		--disk "$disk" --append "kvmbox.root=/dev/vda $*" \
		--vsock "$work/v.sock" >"$work/$name.log" 2>&1 </dev/null &
	vmm=$!
	E2E_VMM_PID=$vmm E2E_CONSOLE=$work/$name.log
}

# stop NAME: "stop" over the agent; the VMM must exit 0.
stop() {
	local rc ok=1 t0=$SECONDS
	cl -s -t 60 "$work/v.sock" 1024 -- true >/dev/null 2>&1
	# A read-write root is synced and unmounted first: under nested
	# emulation on a busy host that has taken over a minute.
	for _ in $(seq 1 900); do kill -0 $vmm 2>/dev/null || break; sleep 0.2; done
	echo "  $1: stop took $((SECONDS - t0)) s"
	kill $vmm 2>/dev/null
	wait $vmm
	rc=$?
	vmm=
	[ $rc -eq 0 ] && ok=0
	[ $ok -eq 0 ] || { echo "  kvmbox exit $rc"; tr -d '\r' <"$work/$1.log" | tail -n 20; }
	e2e_result "$1: stop ends the VM" $ok
}

# run NAME WANT_STDOUT ARGV...: the command exits 0 and prints WANT_STDOUT.
run() {
	local name=$1 out=$2 rc
	shift 2
	cl -t 180 "$work/v.sock" 1024 -- "$@" >"$work/out" 2>"$work/err"
	rc=$?
	if [ $rc -eq 0 ] && [ "$(cat "$work/out")" = "$out" ]; then
		e2e_result "$name" 0
	else
		echo "  exit $rc, stdout: $(head -c 300 "$work/out")"
		echo "  want: $out"
		sed 's/^/  stderr: /' "$work/err" | head -n 5
		e2e_result "$name" 1
	fi
}

# The mount on / that a process sees is the last one listed for "/".
root_mount='awk '\''$2 == "/" { r = $1 " " $3 " " substr($4, 1, 2) } END { print r }'\'' /proc/mounts'

boot ro "$work/rootfs.ext4,ro"
run "ro: sh and busybox come from the disk" "kvmbox busybox" \
	sh -c '. /etc/os-release && echo $ID $(readlink /bin/sh)'
run "ro: busybox applets at /sbin and /usr/bin" "ok" \
	sh -c '/sbin/ls / >/dev/null && /usr/bin/env true && echo ok'
run "ro: / is /dev/vda, ext4, read-only" "/dev/vda ext4 ro" sh -c "$root_mount"
run "ro: writing / fails" "EROFS" sh -c 'touch /x 2>/dev/null && echo written || echo EROFS'
run "ro: the agent is PID 1" "init" cat /proc/1/comm
run "ro: API file systems mounted" "/dev /dev/pts /proc /run /sys /tmp" \
	sh -c "awk '{ print \$2 }' /proc/mounts | grep -xE '/proc|/sys|/dev|/dev/pts|/tmp|/run' | sort | xargs"
run "ro: /tmp is writable" "tmp ok" sh -c 'echo tmp ok >/tmp/f && cat /tmp/f'
run "ro: /dev/ptmx opens a pty" "ok" sh -c 'exec 3<>/dev/ptmx && ls /dev/pts | grep -q "^[0-9]" && echo ok'
run "ro: hostname is kvmbox" "kvmbox" hostname
run "ro: /etc/passwd names root and nobody" "root nobody" sh -c 'cut -d: -f1 /etc/passwd | xargs'
stop ro

boot rw "$work/rw.ext4"
run "rw: / is /dev/vda, read-write" "/dev/vda ext4 rw" sh -c "$root_mount"
run "rw: write a file" "" sh -c 'echo persisted >/root/file'
stop rw
ok=1
e2fsck -fn "$work/rw.ext4" >"$work/fsck" 2>&1 && ok=0
[ $ok -eq 0 ] || sed 's/^/  /' "$work/fsck" | tail -n 10
e2e_result "rw: the file system is clean after stop (e2fsck -fn)" $ok

boot rw-again "$work/rw.ext4,ro"
run "rw, booted again read-only: the file persisted" "persisted" cat /root/file
stop rw-again

boot rootflags "$work/rw.ext4" kvmbox.rootflags=ro
run "rootflags=ro on a writable disk: / is read-only" "/dev/vda ext4 ro" sh -c "$root_mount"
stop rootflags
e2e_summary
