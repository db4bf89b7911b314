#!/usr/bin/env bash
# e2e: the hostile guest (tests/e2e/hostile_guest/, docs/robustness.md).
#
# Usage: hostile.sh KVMBOX HOSTILE_GUEST   (run inside tools/kvm-env)
#
# Boots the hostile guest, a freestanding ELF that kvmbox loads like a
# vmlinux, with every virtio device (blk, vsock, fs, net in user mode) and
# no agent. The guest attacks each device in a loop (broken rings, lying
# lengths, resets with I/O in flight, interrupts never acknowledged) while
# this script checks, during the attacks, that:
#  - `kvmbox status` answers, ten times about 2 s apart (more where the
#    client is slow to start), and the VMM's part of each (the request
#    reaching the control socket to the reply leaving it, timed by
#    hostile_host.py's relay) takes under 2 s (5 s in L1: below);
#  - the guest went on attacking meanwhile (the console grew);
#  - `kvmbox stop --force` ends the VMM within 1 s (5 s in L1) of the
#    request reaching it, with the forced stop's exit status (0), and no
#    sanitizer report, triple fault or KVM error on the VMM's stderr.
# HOSTILE_APPEND, if set, goes to --append: `hostile.idle` boots the same
# VM with a guest that attacks nothing, a baseline for the figures.
# The client's own times are printed, not judged: starting a program in
# the emulated host takes seconds (shared/TESTING.md: count, don't time).
# A plain `kvmbox stop` is not tried: it is a request to the agent
# (docs/protocol.md), and there is none.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=$1 guest=$2
work=$(mktemp -d)
sock=$work/c.sock
vmm='' helper=''
trap 'kill $vmm $helper 2>/dev/null; rm -rf "$work"' EXIT

# The bounds: the VMM answers a status within 2 s and is gone within 1 s
# of a forced stop. In tools/kvm-env's emulated host (KVM_ENV_L1=1),
# shared with other runs, everything is two orders of magnitude slower and
# its pace varies (a forced stop took 0.46 s to 1.42 s in four runs of
# this test there; starting a client, 2 to 9 s), so there the
# bounds are 5 s: loose enough not to fail on the host's pace, tight
# enough to catch a VMM that hangs or waits on the guest.
status_max_ms=2000 stop_max_ms=1000
if [ "${KVM_ENV_L1:-0}" = 1 ]; then
	status_max_ms=5000 stop_max_ms=5000
fi

# now_us: the wall clock in microseconds, without a fork (bash 5's
# EPOCHREALTIME), so that the figures measure kvmbox and not `date`.
now_us() {
	local t=$EPOCHREALTIME
	echo "${t/[.,]/}"
}

# vmm_cpu: the VMM's threads with the CPU time each used so far (clock
# ticks), for the log: who is busy while the guest attacks.
vmm_cpu() {
	local t line comm f
	for t in /proc/"$vmm"/task/*; do
		read -r line <"$t/stat" 2>/dev/null || continue
		comm=${line#*(}
		comm=${comm%%)*}
		read -ra f <<<"${line##*) }"
		printf ' %s=%s' "$comm" $((f[11] + f[12]))
	done
	echo
}

# console_has PATTERN: a line of the guest's console matches PATTERN.
# grep -c, not -q: under pipefail, tr killed by SIGPIPE when grep -q stops
# early would make a match a failure once the console is large (and L1
# has no /dev/fd for a process substitution).
console_has() {
	tr -d '\r' <"$work/console" 2>/dev/null | grep -cE -- "$1" >/dev/null
}

# A disk with data in it, a folder to share, and the host helper
# (hostile_host.py): a relay to the control socket that times the VMM's
# answers and the moment the VMM ends, and a listener on the vsock port the
# guest floods. It starts first: Python is slow to start in the emulated
# host, and this way it does so while the VM boots.
head -c 4194304 /dev/urandom >"$work/disk.img"
mkdir "$work/vol"
echo hello >"$work/vol/file"
head -c 4096 /dev/zero >"$work/initrd"
python3 "$here/hostile_host.py" "$work" >"$work/host.log" 2>&1 &
helper=$!

e2e_vmm_start "$kvmbox" "$work" --kernel "$guest" --initrd "$work/initrd" --rootfs none \
	--disk "$work/disk.img" --vsock "$work/v.sock" --volume "$work/vol:/x" --net user \
	--memory 128 ${HOSTILE_APPEND:+--append "$HOSTILE_APPEND"}
echo "$vmm" >"$work/go.tmp" && mv "$work/go.tmp" "$work/go"
e2e_result "the control socket appears" "$([ -S "$sock" ]; echo $?)"

# The first round has started once its line is on the console (10 minutes
# at most: in the emulated host every exit costs hundreds of microseconds).
for _ in $(seq 1 1200); do
	console_has '^hostile: round 1$' && break
	kill -0 "$vmm" 2>/dev/null || break
	sleep 0.5
done
e2e_result "the hostile guest started its first round" "$(console_has '^hostile: round 1$'; echo $?)"
for dev in blk vsock fs net; do
	e2e_result "the guest found virtio-$dev" "$(console_has "^hostile: found $dev "; echo $?)"
done
for _ in $(seq 1 1200); do
	grep -q '^ready' "$work/host.log" && break
	sleep 0.5
done
e2e_result "the host helper runs" "$(grep -q '^ready' "$work/host.log"; echo $?)"

# Ten status requests about 2 s apart, while the guest attacks, through the
# helper's relay: the client's time, and the VMM's (request in, reply out).
lines0=$(grep -c '^hostile:' "$work/console")
echo "VMM threads' CPU ticks before: $(vmm_cpu)"
ok=0
for i in $(seq 1 10); do
	t0=$(now_us)
	timeout -k 1 60 "$kvmbox" status "$work/p.sock" >"$work/status.$i" 2>&1
	rc=$?
	ms=$((($(now_us) - t0) / 1000))
	if [ "$rc" = 0 ] && grep -q '"state"' "$work/status.$i"; then
		ok=$((ok + 1))
	else
		echo "  status $i: exit $rc after $ms ms: $(head -c 200 "$work/status.$i")"
	fi
	echo "  status $i: the client took $ms ms"
	rem=$((2000 - ms))
	[ "$rem" -gt 0 ] && sleep "$((rem / 1000)).$(printf '%03d' $((rem % 1000)))"
done
echo "VMM threads' CPU ticks after: $(vmm_cpu)"
echo "the devices' counters at the last status:"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
for k in ("exits", "vsock", "fs", "net"): print("  %s: %s" % (k, json.dumps(d.get(k))))' \
	"$work/status.10" 2>/dev/null
grep '^vsock_clients' "$work/host.log" | tail -n 1 | sed 's/^/  host listener: /'
vmm_ms=$(grep -oE '^conn [0-9]+ reply_ms [0-9.]+' "$work/host.log" | awk '{print $4}')
echo "the VMM's answers (ms):" $vmm_ms
e2e_result "kvmbox status answered 10 times during the attacks" "$([ "$ok" = 10 ]; echo $?)"
e2e_result "the VMM answered each status within $((status_max_ms / 1000)) s" \
	"$(echo "$vmm_ms" | awk -v max="$status_max_ms" \
		'NF { n++; if ($1 >= max) bad++ } END { exit !(n == 10 && !bad) }'; echo $?)"
lines1=$(grep -c '^hostile:' "$work/console")
echo "the guest printed $((lines1 - lines0)) attack lines meanwhile," \
	"up to $(tr -d '\r' <"$work/console" | grep '^hostile: round' | tail -n 1)"
if [ "$lines1" -le "$lines0" ]; then
	# Where each of the VMM's threads is, and what the guest said last.
	for t in /proc/"$vmm"/task/*; do
		echo "  thread $(cat "$t/comm"): state $(cut -d' ' -f3 "$t/stat")," \
			"wchan $(cat "$t/wchan" 2>/dev/null), syscall $(cut -d' ' -f1-3 "$t/syscall" 2>/dev/null)"
	done
	tr -d '\r' <"$work/console" | tail -n 8 | sed 's/^/  console: /'
fi
e2e_result "the guest went on attacking during the checks" "$([ "$lines1" -gt "$lines0" ]; echo $?)"
for a in loop-chain loop-self loop-indirect out-of-ram repost-head idx-far-ahead idx-65535 \
	notify-not-ready config-write-mid-io reset-in-flight irq-noack bad-registers; do
	n=$(tr -d '\r' <"$work/console" | grep -cE "^hostile: [a-z]+ $a ")
	echo "  $a: $n lines so far"
done
echo "  devices set up again after an attack: answered" \
	"$(tr -d '\r' <"$work/console" | grep -c '^hostile: [a-z]* [a-z-]* answered ')," \
	"failed $(tr -d '\r' <"$work/console" | grep -c '^hostile: [a-z]* [a-z-]* failed ')," \
	"silent $(tr -d '\r' <"$work/console" | grep -c '^hostile: [a-z]* [a-z-]* silent ')"
tr -d '\r' <"$work/console" | grep -E '^hostile: (blk|net|vsock|fs) [a-z0-9-]+ ' |
	sort -u -k2,3 | sed 's/^/  /' | head -n 80

# The forced stop, through the relay: the VMM must be gone within a second
# of the request reaching it.
t0=$(now_us)
timeout -k 1 60 "$kvmbox" stop --force "$work/p.sock" >"$work/stop.out" 2>&1
stop_rc=$?
cli_ms=$((($(now_us) - t0) / 1000))
e2e_wait_pid 30 "$vmm"
vmm_rc=$?
vmm=''
for _ in $(seq 1 100); do
	grep -q '^vmm_exit' "$work/host.log" && break
	sleep 0.1
done
req=$(grep -oE '^conn [0-9]+ request_at [0-9.]+' "$work/host.log" | tail -n 1 | awk '{print $4}')
gone=$(grep -oE '^vmm_exit [0-9.]+' "$work/host.log" | awk '{print $2}')
stop_ms=$(awk -v r="${req:-0}" -v g="${gone:-0}" 'BEGIN { printf "%d", (g - r) * 1000 }')
echo "stop --force: the client exited $stop_rc after $cli_ms ms; the VMM exited $vmm_rc," \
	"$stop_ms ms after the request reached it"
e2e_result "kvmbox stop --force answered" "$stop_rc"
e2e_result "the VMM exited with the forced stop's status (0)" "$vmm_rc"
e2e_result "the VMM was gone within $((stop_max_ms / 1000)) s of the request" \
	"$([ -n "$req" ] && [ -n "$gone" ] && [ "$stop_ms" -ge 0 ] && [ "$stop_ms" -lt "$stop_max_ms" ]; echo $?)"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error|triple fault|KVM_EXIT|internal error' \
	"$work/vmm.out"; then
	e2e_result "no sanitizer report, triple fault or KVM error" 1
else
	e2e_result "no sanitizer report, triple fault or KVM error" 0
fi
[ -s "$work/vmm.out" ] && sed 's/^/  vmm: /' "$work/vmm.out" | head -n 20
e2e_summary
