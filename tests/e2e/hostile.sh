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
#  - `kvmbox status` answers within 2 s, ten times over about 20 s;
#  - the guest went on attacking meanwhile (the console grew);
#  - `kvmbox stop --force` ends the VMM within 1 s of the request, with
#    the forced stop's exit status (0), and no sanitizer report, triple
#    fault or KVM error on the VMM's stderr.
# A plain `kvmbox stop` is not tried: it is a request to the agent
# (docs/protocol.md), and there is none.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=$1 guest=$2
work=$(mktemp -d)
sock=$work/c.sock
vmm='' lsn=''
trap 'kill $vmm $lsn 2>/dev/null; rm -rf "$work"' EXIT

# now_us: the wall clock in microseconds, without a fork (bash 5's
# EPOCHREALTIME), so that the figures measure kvmbox and not `date`.
now_us() {
	local t=$EPOCHREALTIME
	echo "${t/[.,]/}"
}

# console_has PATTERN: a line of the guest's console matches PATTERN.
console_has() {
	tr -d '\r' <"$work/console" 2>/dev/null | grep -qE -- "$1"
}

# A disk with data in it, a folder to share, and a host listener on the
# vsock port the guest floods with connection requests (accepting and
# holding every connection, so that the device reaches its limit).
head -c 4194304 /dev/urandom >"$work/disk.img"
mkdir "$work/vol"
echo hello >"$work/vol/file"
head -c 4096 /dev/zero >"$work/initrd"
python3 - "$work/v.sock_1234" <<'PY' >"$work/listener.log" 2>&1 &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(4096)
held = []
while True:
    c, _ = s.accept()
    c.setblocking(False)
    held.append(c)
PY
lsn=$!

e2e_vmm_start "$kvmbox" "$work" --kernel "$guest" --initrd "$work/initrd" --rootfs none \
	--disk "$work/disk.img" --vsock "$work/v.sock" --volume "$work/vol:/x" --net user \
	--memory 128
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

# Ten status requests about 2 s apart, while the guest attacks.
lines0=$(grep -c '^hostile:' "$work/console")
worst=0 total=0 ok=0
for i in $(seq 1 10); do
	t0=$(now_us)
	timeout -k 1 2 "$kvmbox" status "$sock" >"$work/status.$i" 2>&1
	rc=$?
	ms=$((($(now_us) - t0) / 1000))
	total=$((total + ms))
	[ "$ms" -gt "$worst" ] && worst=$ms
	if [ "$rc" = 0 ] && grep -q '"state"' "$work/status.$i"; then
		ok=$((ok + 1))
	else
		echo "  status $i: exit $rc after $ms ms: $(head -c 200 "$work/status.$i")"
	fi
	rem=$((2000 - ms))
	[ "$rem" -gt 0 ] && sleep "$((rem / 1000)).$(printf '%03d' $((rem % 1000)))"
done
echo "status: $ok of 10 answered, $((total / 10)) ms on average, $worst ms at worst"
e2e_result "kvmbox status answered 10 times within 2 s during the attacks" "$([ "$ok" = 10 ]; echo $?)"
lines1=$(grep -c '^hostile:' "$work/console")
echo "the guest printed $((lines1 - lines0)) attack lines meanwhile," \
	"up to $(tr -d '\r' <"$work/console" | grep '^hostile: round' | tail -n 1)"
e2e_result "the guest went on attacking during the checks" "$([ "$lines1" -gt "$lines0" ]; echo $?)"
for a in loop-chain loop-indirect out-of-ram repost-head idx-far-ahead idx-65535 \
	notify-not-ready config-write-mid-io reset-in-flight irq-noack bad-registers; do
	n=$(tr -d '\r' <"$work/console" | grep -cE "^hostile: [a-z]+ $a ")
	[ "$n" -ge 4 ] || echo "  $a: $n of 4 devices so far"
done
grep -E '^hostile: (blk|net|vsock|fs) [a-z-]+ ' "$work/console" | tr -d '\r' |
	sort -u -k2,3 | sed 's/^/  /' | head -n 80

# The forced stop: the VMM must be gone within a second of the request.
t0=$(now_us)
timeout -k 1 5 "$kvmbox" stop --force "$sock" >"$work/stop.out" 2>&1
stop_rc=$?
(sleep 30 && kill -9 "$vmm") 2>/dev/null &
dog=$!
wait "$vmm"
vmm_rc=$?
ms=$((($(now_us) - t0) / 1000))
kill "$dog" 2>/dev/null
wait "$dog" 2>/dev/null
vmm=''
echo "stop --force: the client exited $stop_rc, the VMM $vmm_rc, $ms ms after the request"
e2e_result "kvmbox stop --force answered" "$stop_rc"
e2e_result "the VMM exited with the forced stop's status (0)" "$vmm_rc"
e2e_result "the VMM was gone within 1 s of the request" "$([ "$ms" -lt 1000 ]; echo $?)"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error|triple fault|KVM_EXIT|internal error' \
	"$work/vmm.out"; then
	sed 's/^/  vmm: /' "$work/vmm.out" | head -n 20
	e2e_result "no sanitizer report, triple fault or KVM error" 1
else
	e2e_result "no sanitizer report, triple fault or KVM error" 0
fi
[ -s "$work/vmm.out" ] && sed 's/^/  vmm: /' "$work/vmm.out" | head -n 10
e2e_summary
