#!/usr/bin/env bash
# e2e: kvmbox run --jail (docs/jail.md), as root (L1 runs its command as
# root; natively, run it with sudo).
#
# Usage: jail.sh KVMBOX   (KVMBOX_KERNEL_DIR names the guest kernel)
#
# Three boots. 1: the default root (agent initramfs, rootfs.ext4) jailed
# with --uid/--gid, a --disk, a --vsock socket, no network (so a network
# namespace of its own) and, where this host's cgroup v2 allows, --cpu-max,
# --memory-max and --pids-max. kvmbox exec runs commands; the guest writes
# the disk and reads back what the host wrote (blk); 4 MiB go in and out
# through an exec's stdin and stdout (the agent's vsock stream); from the
# host, the jailed VMM sees only its own paths, has the uid, gid, no
# capabilities, namespaces of its own and the cgroup limits; SIGTERM to
# kvmbox run reaches it (status 143) and the cgroup is removed. 2: a
# command's exit status comes back through the PID namespace's parent,
# with the default user-mode network. 3: kvmbox create --jail, exec by
# name, and kill -9 of its lock holder ends the jailed VMM.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=$1
: "${KVMBOX_KERNEL_DIR:?set KVMBOX_KERNEL_DIR}"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: --jail needs root"
	exit 77
fi
work=$(mktemp -d)
vmm=
sbx=
trap '[ -n "$vmm" ] && kill -9 $vmm 2>/dev/null
	[ -n "$sbx" ] && timeout 60 "$kvmbox" rm -f "$sbx" >/dev/null 2>&1
	rm -rf "$work"' EXIT
jail=$work/jail
mkdir -p "$jail" "$work/s" "$work/d"
chmod 755 "$work"
sock=$work/s/c.sock
kx() { timeout -k 5 150 "$kvmbox" exec "$@"; }
check() { e2e_check "$@"; }

# The disk: the host's pattern at 8 MiB for the guest to read; a file
# beside it that the jail must not show.
truncate -s 16M "$work/d/data.img"
head -c 1048576 /dev/urandom >"$work/pattern"
dd if="$work/pattern" of="$work/d/data.img" bs=1M seek=8 conv=notrunc status=none
echo secret >"$work/d/secret"

# cgroup v2 limits where this host allows them: L1 has no cgroup file
# system mounted, so mount it (its root cgroup takes the controllers).
limits=()
if [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
	mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
fi
cgself=$(sed -n 's/^0:://p' /proc/self/cgroup)
cgdir=/sys/fs/cgroup${cgself%/}
if [ -f "$cgdir/cgroup.controllers" ] &&
	for c in cpu memory pids; do grep -qw $c "$cgdir/cgroup.controllers" || exit 1; done; then
	limits=(--cpu-max 50000/100000 --memory-max 768 --pids-max 256)
else
	echo "SKIP (part): no cgroup v2 with cpu, memory and pids controllers here: no limits checked"
fi

# A cgroup a killed run left (its PID is gone) is swept by the next jail;
# one of a live PID (this shell's) is another run's, and stays.
if [ ${#limits[@]} -gt 0 ]; then
	dead=4194301
	while kill -0 $dead 2>/dev/null; do dead=$((dead - 1)); done
	mkdir -p "$cgdir/kvmbox-$dead" "$cgdir/kvmbox-$$"
fi
"$kvmbox" run --jail "$jail" --uid 4242 --gid 4243 "${limits[@]}" --net none --memory 256 \
	--disk "$work/d/data.img" --vsock "$work/s/v.sock" --control "$sock" \
	--console "$work/console" >"$work/vmm.out" 2>&1 </dev/null &
vmm=$!
E2E_VMM_PID=$vmm E2E_CONSOLE=$work/console E2E_VMM_LOG=$work/vmm.out
E2E_CONTROL=$sock E2E_KVMBOX=$kvmbox E2E_WORK=$work
for _ in $(seq 1 600); do [ -S "$sock" ] && break; sleep 0.1; done
# The VMM itself: the child of kvmbox run (PID 1 of its PID namespace).
child=$(cat /proc/$vmm/task/$vmm/children 2>/dev/null | tr -d ' ')
root=/proc/$child/root
echo "kvmbox run $vmm, the jailed VMM $child"
# The vCPU threads are the jailed VMM's: e2e_host_fault looks for them
# there, to tell a guest CPU the emulated host stopped (docs/architecture.md,
# "When the emulated host faults") from a failure of ours. The cgroup is
# named after kvmbox run.
run_pid=$vmm
[ -n "$child" ] && E2E_VMM_PID=$child

check "exec in the jailed VM" [ "$(kx "$sock" -- echo hello 2>"$work/err")" = hello ]

# blk: the guest writes 1 MiB at offset 0 and hashes it; it hashes what
# the host wrote at 8 MiB.
kx "$sock" -- sh -c 'dd if=/dev/urandom of=/tmp/r bs=4096 count=256 2>/dev/null &&
	dd if=/tmp/r of=/dev/vdb bs=4096 conv=fsync 2>/dev/null && md5sum </tmp/r &&
	dd if=/dev/vdb bs=1048576 skip=8 count=1 2>/dev/null | md5sum' >"$work/out" 2>"$work/err"
want=$(head -c 1048576 "$work/d/data.img" | md5sum; md5sum <"$work/pattern")
check "blk: the guest's writes reach the disk, the host's are read" \
	[ "$(awk '{print $1}' "$work/out")" = "$(echo "$want" | awk '{print $1}')" ]

# vsock: 4 MiB in through stdin and back through stdout.
head -c 4194304 /dev/urandom >"$work/big"
kx "$sock" -- cat <"$work/big" 2>"$work/err" | md5sum >"$work/out"
check "vsock: 4 MiB in and out of the jailed VM intact" \
	[ "$(cat "$work/out")" = "$(md5sum <"$work/big")" ]

# What the VMM sees: its own paths, nothing else of the host's. Its own
# keep their host paths, so the jail's top level may hold the first
# component of each: the work folder, the kernel's and the build's (the
# default root's images), wherever this clone lives.
ls -A "$root/" >"$work/top" 2>&1
tops="dev|proc"
for p in "$work" "$KVMBOX_KERNEL_DIR" "$(cd "$(dirname "$kvmbox")" && pwd -P)" "$(cd "$work" && pwd -P)"; do
	t=${p#/}
	tops="$tops|${t%%/*}"
done
echo "  the jail's /: $(tr '\n' ' ' <"$work/top")"
check "the jail shows none of the host's files" sh -c "
	[ ! -e '$root/etc/passwd' ] && [ ! -e '$root/usr' ] && [ ! -e '$root/bin' ] &&
	[ ! -e '$root$work/d/secret' ] && [ ! -e '$root$work/vmm.out' ] &&
	[ -f '$root$work/d/data.img' ] && [ -S '$root$sock' ] &&
	[ \"\$(ls '$root/dev' | tr '\n' ' ')\" = 'kvm null urandom ' ] &&
	! grep -qvxE '$tops' '$work/top'"
check "its uid and gid are the ones given, no groups" sh -c "
	grep -qE '^Uid:\s+4242\s+4242\s+4242\s+4242$' /proc/$child/status &&
	grep -qE '^Gid:\s+4243\s+4243\s+4243\s+4243$' /proc/$child/status &&
	grep -qE '^Groups:\s*$' /proc/$child/status"
check "no effective or permitted capabilities" sh -c "
	grep -qx 'CapEff:	0000000000000000' /proc/$child/status &&
	grep -qx 'CapPrm:	0000000000000000' /proc/$child/status"
ns_ok=0
for ns in mnt pid net ipc uts cgroup; do
	[ "$(readlink /proc/$child/ns/$ns)" != "$(readlink /proc/self/ns/$ns)" ] || ns_ok=1
done
check "new mount, PID, network, IPC, UTS and cgroup namespaces" [ $ns_ok = 0 ]
check "its PID namespace holds only the VMM" \
	[ "$(ls "$root/proc" | grep -cxE '[0-9]+')" = 1 ]
if [ ${#limits[@]} -gt 0 ]; then
	cg=$cgdir/kvmbox-$vmm
	check "cgroup limits: cpu.max, memory.max, pids.max" sh -c "
		grep -qx '0::${cgself%/}/kvmbox-$vmm' /proc/$child/cgroup &&
		[ \"\$(cat $cg/cpu.max)\" = '50000 100000' ] &&
		[ \"\$(cat $cg/memory.max)\" = $((768 << 20)) ] &&
		[ \"\$(cat $cg/pids.max)\" = 256 ]"
	check "a dead run's empty cgroup is swept, a live PID's kept" \
		sh -c "[ ! -d '$cgdir/kvmbox-$dead' ] && [ -d '$cgdir/kvmbox-$$' ]"
	rmdir "$cgdir/kvmbox-$$"
fi

# SIGTERM to kvmbox run: passed on, the VM stops, 128 + 15.
kill -TERM $vmm
for _ in $(seq 1 300); do kill -0 $vmm 2>/dev/null || break; sleep 0.2; done
wait $vmm
rc=$?
vmm=
unset E2E_VMM_PID # the later VMs run in the foreground
check "SIGTERM to kvmbox run stops the jailed VM: status 143" [ $rc = 143 ]
if [ ${#limits[@]} -gt 0 ]; then
	check "its cgroup is removed" [ ! -d "$cgdir/kvmbox-$run_pid" ]
fi
check "the jail's folder is left empty" [ -z "$(ls -A "$jail")" ]

# 2: a command's status through the PID namespace's parent, with the
# default network (libslirp, loaded before the jail: the jail has no
# libraries), so the host's network namespace.
timeout -k 5 400 "$kvmbox" run --jail "$jail" --uid 4242 --gid 4242 \
	-- sh -c '[ -e /sys/class/net/eth0 ] && exit 7; exit 1' >"$work/out" 2>"$work/err" </dev/null
rc=$?
check "a jailed command's exit status (7), with --net user" [ $rc = 7 ]

# 3: kvmbox create passes the jail's options to its kvmbox run; kill -9
# of the sandbox lock's holder (the waiting parent, what kvmbox rm -f
# kills when the VMM does not answer) ends the jailed VMM too
# (PR_SET_PDEATHSIG).
unset XDG_RUNTIME_DIR KVMBOX_SANDBOX_DIR
sbx=e2e-jail-$$
timeout -k 5 400 "$kvmbox" create --name "$sbx" --jail "$jail" --uid 4242 --gid 4242 \
	--net none --memory 256 >"$work/out" 2>"$work/err" </dev/null
rc=$?
holder=$(cat "/tmp/kvmbox-0/$sbx/pid" 2>/dev/null)
child=$(cat /proc/$holder/task/$holder/children 2>/dev/null | tr -d ' ')
check "kvmbox create --jail: exec by name; the VMM runs as uid 4242" sh -c "
	[ $rc = 0 ] && [ \"\$(timeout 150 '$kvmbox' exec '$sbx' -- echo hi)\" = hi ] &&
	grep -qE '^Uid:\s+4242\s' /proc/$child/status"
kill -9 "$holder"
gone() { [ ! -d /proc/$child ] || grep -q '^State:.*Z' /proc/$child/status 2>/dev/null; }
for _ in $(seq 1 50); do gone && break; sleep 0.2; done
check "kill -9 of the sandbox's lock holder ends the jailed VMM too" gone
timeout 60 "$kvmbox" rm -f "$sbx" >/dev/null 2>&1

e2e_summary
