# tests/e2e/lib.sh: shared by the e2e scripts (sourced, not run).
#
# make_initrd OUT SCRIPT [HOST_BINARY...]
#   A busybox initramfs whose /init mounts /dev, /proc, /sys and /tmp, runs
#   SCRIPT (a file, copied to /test.sh) with /dev/console as its terminal,
#   and reboots (which ends the VMM). Each HOST_BINARY is copied in at its
#   own path with the shared libraries ldd names. Files under $E2E_DATA (if
#   set) are copied to /data.
# e2e_result NAME OK: count and print a PASS or FAIL line; a failure that
#   e2e_host_fault blames on the emulated host ends the script with 75.
# e2e_bounded SECS CONSOLE CMD...: CMD with a time limit (below).
# e2e_vmm_start KVMBOX WORK RUN_ARGS...: a VM on the control socket
#   WORK/c.sock (below).
# e2e_wait_pid SECS PID: wait for PID (a child of this shell) for at most
# SECS seconds, kill -9 it then; its status. Polled, with no watchdog
# subshell: a subshell that bash has just forked still holds the script's
# EXIT trap until it first runs, so killing it at once runs that trap in
# it (rm -rf of the test's folder, kill of its VM: it happened in a CI run
# of control.sh, under load).
e2e_wait_pid() {
	local end=$((SECONDS + $1))
	while kill -0 "$2" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
	kill -9 "$2" 2>/dev/null
	wait "$2"
}

# e2e_check NAME CMD...: e2e_result of CMD, with what the VM says on failure.

# The distribution's python3 first (tests/e2e/bin/python3 says why).
PATH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/bin:$PATH
export PATH

E2E_PASSED=0
E2E_FAILED=0
# Seconds since the last result: each PASS/FAIL line says what its check
# took, so a slow CI run shows where its time went.
E2E_LAST=$SECONDS
# The script's own stdout, for what a helper says while the caller has
# redirected the helper's stdout elsewhere.
exec {E2E_OUT}>&1

make_initrd() {
	local out=$1 script=$2 root bin lib
	shift 2
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,mnt,data}
	cp /bin/busybox "$root/bin/busybox"
	for bin in "$@"; do
		mkdir -p "$root/$(dirname "$bin")"
		cp "$bin" "$root/$bin"
		for lib in $(ldd "$bin" | grep -oE '/[^ ]+'); do
			mkdir -p "$root/$(dirname "$lib")"
			cp -L "$lib" "$root/$lib"
		done
	done
	[ -n "${E2E_DATA:-}" ] && cp -r "$E2E_DATA"/. "$root/data/"
	cp "$script" "$root/test.sh"
	cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp
exec </dev/console >/dev/console 2>&1
sh /test.sh
echo "test-exit $?"
sync
reboot -f
INIT
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
	rm -rf "$root"
}

e2e_result() {
	local took=$((SECONDS - E2E_LAST))
	E2E_LAST=$SECONDS
	if [ "$2" = 0 ]; then
		echo "PASS $1 (${took} s)"
		E2E_PASSED=$((E2E_PASSED + 1))
	else
		echo "FAIL $1 (${took} s)"
		E2E_FAILED=$((E2E_FAILED + 1))
		e2e_host_fault_exit
	fi
}

# e2e_bounded SECS CONSOLE CMD...: run CMD (a foreground kvmbox run) for at
# most SECS seconds; its status, or 124 when time ran out. Before a CMD that
# ran out of time is killed, a fault of the emulated host (e2e_host_fault,
# on the guest console CONSOLE) ends the script with 75.
e2e_bounded() {
	local secs=$1 console=$2 pid i
	shift 2
	"$@" &
	pid=$!
	for ((i = 0; i < secs * 5; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		E2E_VMM_PID=$pid E2E_CONSOLE=$console e2e_host_fault_exit >&"$E2E_OUT"
		kill -9 "$pid" 2>/dev/null
		wait "$pid"
		return 124
	fi
	wait "$pid"
}

# e2e_host_fault_exit: after a failure, when the VM running in the
# background (E2E_VMM_PID, its guest console in E2E_CONSOLE, the VMM's
# stderr in E2E_VMM_LOG, default E2E_CONSOLE) shows a fault of the
# emulated host (e2e_host_fault while it runs, e2e_host_triple_fault once
# it is gone), exit 75: tools/kvm-env then runs the whole script again in
# a fresh L1.
e2e_host_fault_exit() {
	[ -n "${E2E_VMM_PID:-}" ] && [ -n "${E2E_CONSOLE:-}" ] || return 0
	if kill -0 "$E2E_VMM_PID" 2>/dev/null; then
		e2e_host_fault "$E2E_VMM_PID" "$E2E_CONSOLE" ||
			e2e_host_fault_exits "$E2E_VMM_PID" || return 0
		echo "HOST FAULT: a guest CPU stopped inside KVM_RUN of the emulated host;" \
			"exit 75 asks tools/kvm-env to run this script again in a fresh L1"
	else
		e2e_host_triple_fault "$E2E_CONSOLE" "${E2E_VMM_LOG:-$E2E_CONSOLE}" || return 0
		echo "HOST FAULT: the guest triple-faulted in the emulated host without a word" \
			"on its console; exit 75 asks tools/kvm-env to run this script again in a fresh L1"
	fi
	exit 75
}

# e2e_host_fault_exits VMM_PID: true when, in L1 only, a guest CPU runs
# guest code and never exits: at each of four looks a second apart, the
# thread of vCPU N (vcpuN) ran guest code (its guest time grew) and KVM's
# count of every exit of vCPU N, in-kernel ones included ("vcpu_exits" of
# `kvmbox status`, on the control socket E2E_CONTROL with the binary
# E2E_KVMBOX), stood still. A guest CPU that runs takes its timer tick and
# the interrupts sent to it, and each is an exit: one that runs for
# seconds without any has stopped taking interrupts, which is the emulated
# host's fault of e2e_host_fault, seen before the guest reports its RCU
# stall, or where it never does (seen in CI: an agent unresponsive for
# minutes, one of L1's CPUs busy, nothing on the guest's console).
e2e_host_fault_exits() {
	local pid=$1 look cpu t gt e ex
	local -A last_gt=() last_ex=() stuck=()
	[ "${KVM_ENV_L1:-0}" = 1 ] && [ -n "${E2E_CONTROL:-}" ] && [ -n "${E2E_KVMBOX:-}" ] || return 1
	for look in 0 1 2 3; do
		ex=$(timeout 10 "$E2E_KVMBOX" status "$E2E_CONTROL" 2>/dev/null |
			python3 -c 'import json, sys; print(" ".join(map(str, json.load(sys.stdin)["vcpu_exits"])))' \
				2>/dev/null) || return 1
		cpu=0
		for e in $ex; do
			if t=$(e2e_vcpu_task "$pid" "$cpu"); then
				gt=$(cut -d' ' -f43 "$t/stat" 2>/dev/null)
				if [ "$look" -gt 0 ]; then
					echo "  host fault? look $look: vcpu$cpu guest time ${last_gt[$cpu]} -> $gt," \
						"KVM exits ${last_ex[$cpu]} -> $e"
					[ "${gt:-0}" -gt "${last_gt[$cpu]}" ] && [ "$e" = "${last_ex[$cpu]}" ] &&
						stuck[$cpu]=$((${stuck[$cpu]:-0} + 1))
				fi
				last_gt[$cpu]=${gt:-0}
				last_ex[$cpu]=$e
			fi
			cpu=$((cpu + 1))
		done
		[ "$look" = 3 ] || sleep 1
	done
	for cpu in "${!stuck[@]}"; do
		[ "${stuck[$cpu]}" -eq 3 ] && return 0
	done
	return 1
}

# e2e_host_triple_fault CONSOLE VMM_LOG: true when, in L1 only, the VMM
# ended on a guest triple fault (its stderr in VMM_LOG) and the guest's
# console (CONSOLE) shows no oops, panic or fault report before it.
#
# A triple fault that the guest kernel did not even report (its double
# fault handler never ran) is what the emulated host's known fault looks
# like from the other side: L1 has been seen running with the nested
# guest's GS base (docs/architecture.md), and a nested guest run with L1's
# is dead before it can print. kvmbox sets no guest register after boot
# and writes guest memory only within descriptors the guest gave it. The
# evidence is weaker than e2e_host_fault's, so tools/kvm-env's retry limit
# matters: a triple fault that kvmbox causes every time still fails CI. On
# real KVM (no KVM_ENV_L1) this never says true.
e2e_host_triple_fault() {
	local console=$1 log=$2
	[ "${KVM_ENV_L1:-0}" = 1 ] || return 1
	grep -q 'triple fault (KVM_EXIT_SHUTDOWN)' "$log" 2>/dev/null || return 1
	! tr -d '\r' <"$console" 2>/dev/null |
		grep -qE 'Oops|BUG:|Kernel panic|general protection|double fault|stack overflow|RIP:'
}

e2e_summary() {
	echo "$E2E_PASSED passed, $E2E_FAILED failed"
	[ "$E2E_FAILED" -eq 0 ]
}

# e2e_vcpu_task VMM_PID N: the /proc task folder of the VMM's thread that
# runs guest CPU N (named vcpuN), or nothing.
e2e_vcpu_task() {
	local t
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "vcpu$2" ] && echo "$t" && return 0
	done
	return 1
}

# e2e_host_fault VMM_PID CONSOLE: true when a failure is the emulated
# host's, not kvmbox's, with the evidence on stdout.
#
# Under tools/kvm-env's L1 (QEMU's software SVM with KVM nested in it), a
# guest CPU now and then stops taking interrupts for good: the guest kernel
# reports an RCU stall on it ("rcu: INFO: rcu_sched detected stalls on
# CPUs/tasks", then "rcu: <TAB>N-..."), and L1's own kernel dies minutes
# later (docs/architecture.md). It is the emulated host's fault when, at
# each of four looks a second apart, the thread of every stalled CPU
# (vcpuN) is inside KVM_RUN: either blocked there (ioctl 0xae80 in
# /proc/PID/task/TID/syscall) or running guest code (its guest time, field
# 43 of /proc/PID/task/TID/stat, grew since the last look). kvmbox handed
# the CPU to KVM and KVM did not give it back. A vCPU thread anywhere else
# (a lock, a device handler, another syscall) stays kvmbox's failure. On
# real KVM (no KVM_ENV_L1) this never says true.
e2e_host_fault() {
	local pid=$1 console=$2 cpus cpu t sc gt look ok=0 need=0
	local -A last=()
	[ "${KVM_ENV_L1:-0}" = 1 ] || return 1
	cpus=$(tr -d '\r' <"$console" 2>/dev/null |
		grep -oE '^\[[ 0-9.]+\] rcu:[[:space:]]+[0-9]+-' | grep -oE '[0-9]+-$' | tr -d - | sort -un)
	[ -n "$cpus" ] || return 1
	for look in 0 1 2 3; do
		for cpu in $cpus; do
			t=$(e2e_vcpu_task "$pid" "$cpu") || continue
			sc=$(cat "$t/syscall" 2>/dev/null)
			gt=$(cut -d' ' -f43 "$t/stat" 2>/dev/null)
			echo "  host fault? guest CPU $cpu stalled; look $look: thread vcpu$cpu" \
				"syscall [$sc], guest time $gt"
			if [ "$look" -gt 0 ]; then
				need=$((need + 1))
				case "$sc " in
				"16 "*" 0xae80 "*) ok=$((ok + 1)) ;;
				running*) [ "${gt:-0}" -gt "${last[$cpu]:-0}" ] && ok=$((ok + 1)) ;;
				esac
			fi
			last[$cpu]=${gt:-0}
		done
		[ "$look" = 3 ] || sleep 1
	done
	[ "$need" -gt 0 ] && [ "$ok" -eq "$need" ]
}

# e2e_vmm_start KVMBOX WORK RUN_ARGS...: `KVMBOX run RUN_ARGS --control
# WORK/c.sock` in the background, its console in WORK/console and its
# output in WORK/vmm.out; sets vmm (its pid) and what e2e_host_fault reads,
# and waits up to 60 s for the socket.
e2e_vmm_start() {
	local kb=$1 w=$2
	shift 2
	"$kb" run "$@" --control "$w/c.sock" --console "$w/console" >"$w/vmm.out" 2>&1 </dev/null &
	vmm=$!
	E2E_VMM_PID=$vmm E2E_CONSOLE=$w/console E2E_VMM_LOG=$w/vmm.out
	E2E_CONTROL=$w/c.sock E2E_KVMBOX=$kb E2E_WORK=$w
	for _ in $(seq 1 600); do [ -S "$w/c.sock" ] && break; sleep 0.1; done
}

# e2e_check NAME CMD...: one result from a test command. On failure, the
# files out and err of E2E_WORK, and what the VM of e2e_vmm_start says
# now (its status, console and output), for a failure that happens only
# sometimes.
e2e_check() {
	local name=$1 w=${E2E_WORK:?e2e_vmm_start first}
	shift
	if "$@"; then
		e2e_result "$name" 0
		return
	fi
	[ -f "$w/out" ] && echo "  stdout: $(head -c 300 "$w/out")"
	sed 's/^/  stderr: /' "$w/err" 2>/dev/null | head -n 5
	timeout 10 "$E2E_KVMBOX" status "$E2E_CONTROL" 2>&1 | tr -d ' \n' | sed 's/^/  status: /'
	echo
	tr -d '\r' <"$E2E_CONSOLE" | tail -n 5 | sed 's/^/  console: /'
	tail -n 3 "$E2E_VMM_LOG" | sed 's/^/  vmm: /'
	e2e_result "$name" 1
}
