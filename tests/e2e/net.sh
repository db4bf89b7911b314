#!/usr/bin/env bash
# e2e: virtio-net, user-mode networking (libslirp, passt) and the egress
# policy.
#
# Usage: net.sh KVMBOX
# (run inside tools/kvm-env; KVMBOX_KERNEL_DIR names the guest kernel)
#
# Every server the guest talks to is started here, on L1's loopback (which
# the user-mode gateway 10.0.2.2 maps to) or on a tap of L1's own; L1 has
# no network card, and nothing is sent anywhere else.
#
#  - the guest downloads 2 MiB from an HTTP server on L1 (allowed by
#    --net-allow), checked by its SHA-256;
#  - with the default policy (public addresses only) the same server is out
#    of reach, while eth0 is up with its address and route;
#  - --net-deny stops one server while another on the same address works,
#    and kvmbox status counts the frames it denied;
#  - a server in the guest is reached from L1 through a published port
#    while user mode is on;
#  - --net none: no eth0;
#  - tap mode, as root, where L1 has /dev/net/tun;
#  - --net passt (where passt is installed): the same download through a
#    passt process, which ends with the VM; passt killed under a running
#    VM takes the guest's link down, with one message, and the VM goes on;
#    --jail with passt: the VMM in a network namespace of its own, passt
#    outside, the download still intact.
#    passt will not start without a host interface with a default route
#    (passt(1)); L1 has no network card, so the script gives it a tap with
#    an address and a default route through it, with nothing attached:
#    whatever passt might send there goes nowhere.
set -uo pipefail

# passt makes a user namespace, which the kernel refuses to a chrooted
# caller (unshare(2): EPERM "the caller is in a chroot environment"), and
# kvm-env's L1 runs its command chrooted into the host's root. So in L1
# this script runs again with L1's own root covered by a bind of ours
# (mount's --no-canonicalize: /proc/1/root must not be resolved to our
# "/"), and chrooted into that: through /proc/1/root/.., the top of the
# mounts on L1's root, which is then the root of the mount namespace.
if [ -n "${KVM_ENV_L1:-}" ] && ! unshare -U true 2>/dev/null; then
	mount --no-canonicalize --rbind / /proc/1/root &&
		exec chroot /proc/1/root/.. /bin/sh -c 'cd "$1" && shift && exec "$@"' - \
			"$PWD" "$0" "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=$1
work=$(mktemp -d)
sock=$work/c.sock
vmm='' srv1='' srv2='' srv3='' httpd=''
cleanup() {
	kill $vmm $srv1 $srv2 $srv3 $httpd 2>/dev/null
	ip link del kvmbt0 2>/dev/null
	ip link del kvmbp0 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/www"
head -c 2097152 /dev/urandom >"$work/www/blob"
want=$(sha256sum <"$work/www/blob" | cut -d' ' -f1)
port1=18080 port2=18081

# serve PORT [ADDR]: an HTTP server on L1 for the folder www; its pid in $!.
serve() {
	python3 -m http.server --bind "${2:-127.0.0.1}" --directory "$work/www" "$1" \
		>"$work/http.$1.log" 2>&1 &
}
# up ADDR PORT: wait until the server listens (python3 starts slowly in L1,
# a minute and more on a busy machine).
up() {
	for _ in $(seq 1 3000); do
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# L1's init leaves its loopback down.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
serve $port1
srv1=$!
serve $port2
srv2=$!
up 127.0.0.1 $port1 && up 127.0.0.1 $port2 || {
	echo "the HTTP servers did not start"
	cat "$work"/http.*.log
	exit 1
}

# krun ARGS...: kvmbox run ARGS with a bounded time, output in out and err.
krun() {
	e2e_bounded 300 "$work/console" "$kvmbox" run --memory 256 --console "$work/console" "$@" \
		>"$work/out" 2>"$work/err" </dev/null
}
# result NAME RC: one check, with context on failure.
result() {
	[ "$2" = 0 ] || {
		echo "  stdout: $(head -c 300 "$work/out")"
		sed 's/^/  stderr: /' "$work/err" | head -n 5
		tr -d '\r' <"$work/console" | tail -n 8 | sed 's/^/  console: /'
	}
	e2e_result "$1" "$2"
}
fetch="wget -q -O - http://10.0.2.2:$port1/blob | sha256sum"

# 1. The download, allowed by a rule for that port only.
krun --net user --net-allow "10.0.2.2:$port1" -- sh -c "$fetch"
rc=$?
ok=1
[ $rc -eq 0 ] && [ "$(cut -d' ' -f1 <"$work/out")" = "$want" ] && ok=0
result "the guest downloads 2 MiB from L1 through user mode, hash intact" $ok

# recv_hash ADDR PORT: a receiver in the background (its pid in rcv) that
# takes one connection, reads 2 MiB and writes their SHA-256 to
# $work/up.sum; returns once it listens.
recv_hash() {
	rm -f "$work/up.sum" "$work/up.sum.ready"
	python3 -c '
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[2], int(sys.argv[3])))
s.listen(1)
open(sys.argv[1] + ".ready", "w").close()
s.settimeout(600)
c, _ = s.accept()
c.settimeout(300)
h, got = hashlib.sha256(), 0
while got < 2097152:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b)
    got += len(b)
c.close()
open(sys.argv[1], "w").write(h.hexdigest() + "\n")' "$work/up.sum" "$1" "$2" &
	rcv=$!
	for _ in $(seq 1 3000); do [ -e "$work/up.sum.ready" ] && break; sleep 0.1; done
}
# send_ok MTU: the guest printed MTU, then the hash of what it sent, and
# the receiver got the same.
send_ok() {
	e2e_wait_pid 120 $rcv
	[ "$(sed -n 1p "$work/out")" = "$1" ] &&
		[ "$(sed -n 2p "$work/out" | cut -d' ' -f1)" = "$(cat "$work/up.sum" 2>/dev/null)" ]
}
send2m='cat /sys/class/net/eth0/mtu && head -c 2097152 /dev/urandom >/tmp/u &&
	sha256sum </tmp/u && nc'

# 1b. The other way: the guest sends 2 MiB (in frames of up to the
# device's MTU, 1500 in user mode) to a receiver on L1's loopback, which
# hashes what came; the guest's interface has that MTU.
recv_hash 127.0.0.1 18083
krun --net user --net-allow 10.0.2.2:18083 -- sh -c "$send2m 10.0.2.2 18083 </tmp/u"
rc=$?
ok=1
send_ok 1500 && [ $rc -eq 0 ] && ok=0
result "the guest sends 2 MiB to L1 through user mode (MTU 1500), hash intact" $ok

# 2. The default for a command: user mode, public addresses only. eth0 is
# configured; the host's loopback (behind 10.0.2.2, a private address) is not
# reachable. The connect is dropped, so the guest's wget is cut off by timeout.
guest=$(
	cat <<EOF
cat /sys/class/net/eth0/operstate
awk '\$1 == "eth0" && \$2 == "00000000" && \$3 == "0202000A"' /proc/net/route | wc -l
cat /etc/resolv.conf
timeout 15 wget -q -O /dev/null http://10.0.2.2:$port1/blob
echo "wget \$?"
EOF
)
krun -- sh -c "$guest"
rc=$?
ok=1
[ $rc -eq 0 ] && [ "$(sed -n 1p "$work/out")" = up ] && [ "$(sed -n 2p "$work/out")" = 1 ] &&
	grep -q '^nameserver 10.0.2.3$' "$work/out" && grep -q '^wget [1-9]' "$work/out" && ok=0
result "by default eth0 is up with a route and resolver, and the host is out of reach" $ok

# 3. --net-policy all with one --net-deny: the denied port fails, the other
# works, and status counts what was denied. Driven through the control socket.
"$kvmbox" run --memory 256 --control "$sock" --console "$work/console" \
	--net-policy all --net-deny "10.0.2.2:$port2" --publish 127.0.0.1:0:8080 \
	>"$work/vmm.out" 2>&1 </dev/null &
vmm=$!
E2E_VMM_PID=$vmm E2E_CONSOLE=$work/console E2E_VMM_LOG=$work/vmm.out
for _ in $(seq 1 600); do [ -S "$sock" ] && break; sleep 0.1; done
kx() { timeout -k 5 200 "$kvmbox" exec "$sock" -- "$@" >"$work/out" 2>"$work/err"; }
kx sh -c "$fetch"
rc=$?
ok=1
[ $rc -eq 0 ] && [ "$(cut -d' ' -f1 <"$work/out")" = "$want" ] && ok=0
result "--net-policy all: the allowed server answers" $ok
kx sh -c "timeout 15 wget -q -O /dev/null http://10.0.2.2:$port2/blob; echo \"wget \$?\""
rc=$?
ok=1
[ $rc -eq 0 ] && grep -q '^wget [1-9]' "$work/out" && ok=0
result "--net-deny stops the other port of the same address" $ok
timeout 20 "$kvmbox" status "$sock" >"$work/status" 2>"$work/err"
python3 - "$work/status" >"$work/out" 2>&1 <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["net"]
print(s["mode"], s["denied"], s["denied_by"]["rule"], s["tx_frames"] > 0, s["rx_frames"] > 0)
assert s["mode"] == "user" and s["denied"] >= 1 and s["denied_by"]["rule"] >= 1
assert s["tx_frames"] > 0 and s["rx_frames"] > 0
EOF
result "kvmbox status counts the denied frames" $?
# A published port beside user mode: busybox httpd on the guest's
# 127.0.0.1:8080 (its files in /tmp: the default root is read-only),
# fetched from L1 through the port --publish picked.
pport=$(sed -n 's/^kvmbox: published 127\.0\.0\.1:\([0-9]*\) -> guest port 8080$/\1/p' \
	"$work/vmm.out")
kx sh -c 'mkdir -p /tmp/www && head -c 1048576 /dev/urandom >/tmp/www/b && sha256sum </tmp/www/b'
gwant=$(cut -d' ' -f1 "$work/out")
timeout -k 5 300 "$kvmbox" exec "$sock" -- httpd -f -p 127.0.0.1:8080 -h /tmp/www \
	>/dev/null 2>&1 &
httpd=$!
for _ in $(seq 1 100); do
	kx sh -c 'netstat -ltn | grep -q ":8080 "' && break
	sleep 0.3
done
ok=1
[ -n "$pport" ] && curl -sS --noproxy '*' --max-time 120 -o "$work/pub.bin" \
	"http://127.0.0.1:$pport/b" 2>"$work/err" &&
	[ "$(sha256sum <"$work/pub.bin" | cut -d' ' -f1)" = "$gwant" ] && ok=0
result "a published port reaches the guest's httpd while user mode is on" $ok
kill $httpd 2>/dev/null
timeout 60 "$kvmbox" stop "$sock" >/dev/null 2>&1
for _ in $(seq 1 300); do kill -0 $vmm 2>/dev/null || break; sleep 0.2; done
kill -9 $vmm 2>/dev/null
wait $vmm 2>/dev/null
vmm=''

# 4. --net none: no network device, only lo.
krun --net none -- ls /sys/class/net
rc=$?
ok=1
[ $rc -eq 0 ] && [ "$(cat "$work/out")" = lo ] && ok=0
result "--net none: the guest has no eth0" $ok

# 5. tap mode, as root: a tap on L1 with a server on its address.
if [ -c /dev/net/tun ] && ip tuntap add dev kvmbt0 mode tap 2>/dev/null; then
	ip addr add 10.0.3.1/24 dev kvmbt0 && ip link set kvmbt0 up
	serve 18082 10.0.3.1
	srv3=$!
	up 10.0.3.1 18082
	krun --net tap=kvmbt0,ip=10.0.3.2/24,gw=10.0.3.1 --net-allow 10.0.3.1:18082 -- \
		sh -c "cat /sys/class/net/eth0/mtu && wget -q -O - http://10.0.3.1:18082/blob | sha256sum"
	rc=$?
	ok=1
	[ $rc -eq 0 ] && [ "$(sed -n 1p "$work/out")" = 1500 ] &&
		[ "$(sed -n 2p "$work/out" | cut -d' ' -f1)" = "$want" ] && ok=0
	result "tap mode (MTU 1500): the guest downloads from a server on the tap, hash intact" $ok
	# And sends 2 MiB to L1 through it: TSO frames (HOST_TSO4) that L1's
	# kernel segments, each checksum finished there. The guest's driver
	# took GUEST_TSO4 and HOST_TSO4 (bits 7 and 11 of its virtio device's
	# negotiated features, sysfs' string of 0s and 1s).
	recv_hash 10.0.3.1 18084
	krun --net tap=kvmbt0,ip=10.0.3.2/24,gw=10.0.3.1 --net-allow 10.0.3.1:18084 -- \
		sh -c "$send2m 10.0.3.1 18084 </tmp/u; for d in /sys/bus/virtio/devices/*; do
			if [ \"\$(cat \$d/device)\" = 0x0001 ]; then cut -c8,12 \$d/features; fi; done"
	rc=$?
	ok=1
	send_ok 1500 && [ $rc -eq 0 ] && [ "$(sed -n 3p "$work/out")" = 11 ] && ok=0
	result "tap mode: the guest sends 2 MiB to a server on the tap (TSO), hash intact" $ok

	# The same tap opened by the caller (a platform that hands the VMM a
	# descriptor, never the name): python3 attaches to it with TUNSETIFF
	# (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, tuntap.rst) and runs kvmbox with
	# the descriptor as --net tap-fd=N. One opened without IFF_VNET_HDR is
	# refused with a clear word.
	with_tap() { # FLAGS KVMBOX_ARGS...: the tap's descriptor replaces @FD@
		python3 -c 'import fcntl, os, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH22x", b"kvmbt0", int(sys.argv[1], 0)))
os.set_inheritable(fd, True)
os.execvp(sys.argv[2], [a.replace("@FD@", str(fd)) for a in sys.argv[2:]])' "$@"
	}
	krun_fd() { # FLAGS ARGS...: krun, the tap opened with FLAGS
		local flags=$1
		shift
		e2e_bounded 300 "$work/console" with_tap "$flags" "$kvmbox" run --memory 256 \
			--console "$work/console" "$@" >"$work/out" 2>"$work/err" </dev/null
	}
	krun_fd 0x5002 --net tap-fd=@FD@,ip=10.0.3.2/24,gw=10.0.3.1 --net-allow 10.0.3.1:18082 -- \
		sh -c "wget -q -O - http://10.0.3.1:18082/blob | sha256sum"
	rc=$?
	ok=1
	[ $rc -eq 0 ] && [ "$(cut -d' ' -f1 <"$work/out")" = "$want" ] && ok=0
	result "tap-fd mode: a tap the caller opened, the same download, hash intact" $ok
	krun_fd 0x1002 --net tap-fd=@FD@ -- true
	rc=$?
	ok=1
	[ $rc -ne 0 ] && grep -q "IFF_VNET_HDR" "$work/err" && ok=0
	result "tap-fd mode: a tap without IFF_VNET_HDR is refused, and why" $ok
else
	echo "SKIP tap mode: no /dev/net/tun here (L1 loads no tun module)"
fi

# passt_route: a host interface with a default route for passt. A host
# with a default route of its own is left alone; L1 gets a tap of its own
# (198.18.0.0/24, the benchmarking range of RFC 2544: nobody's network).
passt_route() {
	[ -n "$(ip -4 route show default 2>/dev/null)" ] && return 0
	ip tuntap add dev kvmbp0 mode tap &&
		ip addr add 198.18.0.1/24 dev kvmbp0 && ip link set kvmbp0 up &&
		ip route add default via 198.18.0.2 dev kvmbp0
}
# passt_children PID: the passt processes whose parent is PID (Debian's
# passt runs itself again as passt.avx2 where the CPU has AVX2).
passt_children() {
	for d in /proc/[0-9]*; do
		[ "$(awk '{ print $4 }' "$d/stat" 2>/dev/null)" = "$1" ] &&
			grep -qxE 'passt(\.avx2)?' "$d/comm" 2>/dev/null && echo "${d#/proc/}"
	done
}
# passt_none: no passt process runs at all.
passt_none() {
	[ -z "$(for d in /proc/[0-9]*; do grep -lxE 'passt(\.avx2)?' "$d/comm" 2>/dev/null; done)" ]
}

# 6. passt.
if ! command -v passt >/dev/null; then
	echo "SKIP passt: not installed (apt install passt)"
else
	passt_route
	result "a default route for passt (a tap of L1's own where there is none)" $?
	krun --net passt --net-allow "10.0.2.2:$port1" -- sh -c "cat /sys/class/net/eth0/mtu && $fetch"
	rc=$?
	ok=1
	[ $rc -eq 0 ] && [ "$(sed -n 1p "$work/out")" = 1500 ] &&
		[ "$(sed -n 2p "$work/out" | cut -d' ' -f1)" = "$want" ] && ok=0
	result "--net passt (MTU 1500): the guest downloads 2 MiB from L1 through passt, hash intact" $ok
	ok=1
	passt_none && ok=0
	result "--net passt: passt ended with the VM" $ok

	rm -f "$sock"
	"$kvmbox" run --memory 256 --control "$sock" --console "$work/console" --net passt \
		>"$work/vmm.out" 2>&1 </dev/null &
	vmm=$!
	E2E_VMM_PID=$vmm E2E_CONSOLE=$work/console E2E_VMM_LOG=$work/vmm.out
	for _ in $(seq 1 600); do [ -S "$sock" ] && break; sleep 0.1; done
	kx cat /sys/class/net/eth0/carrier
	ok=1
	[ "$(cat "$work/out")" = 1 ] && ok=0
	pid=$(passt_children $vmm)
	[ -n "$pid" ] && kill "$pid" || ok=1
	result "--net passt: the link is up, and passt runs as the VMM's child" $ok
	for _ in $(seq 1 60); do
		kx cat /sys/class/net/eth0/carrier
		[ "$(cat "$work/out")" = 0 ] && break
		sleep 1
	done
	ok=1
	[ "$(cat "$work/out")" = 0 ] && kx true &&
		[ "$(grep -c '^kvmbox: --net passt: ' "$work/vmm.out")" = 1 ] &&
		grep -q "^kvmbox: --net passt: passt .*; the guest's link is down$" "$work/vmm.out" &&
		ok=0
	result "--net passt: passt killed: one message, the guest's link down, the VM goes on" $ok
	[ $ok = 0 ] || sed 's/^/  vmm: /' "$work/vmm.out" | tail -n 5
	timeout 60 "$kvmbox" stop "$sock" >/dev/null 2>&1
	for _ in $(seq 1 300); do kill -0 $vmm 2>/dev/null || break; sleep 0.2; done
	kill -9 $vmm 2>/dev/null
	wait $vmm 2>/dev/null

	# --jail: the jail's waiting parent starts passt in L1's network;
	# the jailed VMM has a network namespace of its own, and the guest
	# still downloads through passt. passt ends with the VM.
	mkdir "$work/jail"
	chmod 755 "$work"
	rm -f "$sock"
	"$kvmbox" run --jail "$work/jail" --uid 4242 --gid 4242 --memory 256 --control "$sock" \
		--console "$work/console" --net passt --net-allow "10.0.2.2:$port1" \
		>"$work/vmm.out" 2>&1 </dev/null &
	vmm=$!
	E2E_VMM_PID=$vmm E2E_CONSOLE=$work/console E2E_VMM_LOG=$work/vmm.out
	for _ in $(seq 1 600); do [ -S "$sock" ] && break; sleep 0.1; done
	jailed=
	for p in $(cat /proc/$vmm/task/$vmm/children 2>/dev/null); do
		grep -qx kvmbox /proc/$p/comm 2>/dev/null && jailed=$p
	done
	kx sh -c "$fetch"
	ok=1
	[ "$(cut -d' ' -f1 <"$work/out")" = "$want" ] && [ -n "$jailed" ] &&
		[ "$(readlink /proc/$jailed/ns/net)" != "$(readlink /proc/self/ns/net)" ] &&
		grep -qE '^Uid:\s+4242\s' /proc/$jailed/status && [ -n "$(passt_children $vmm)" ] &&
		ok=0
	result "--jail --net passt: passt outside the jail, the VMM in a network namespace of its own, the download intact" $ok
	timeout 60 "$kvmbox" stop "$sock" >/dev/null 2>&1
	for _ in $(seq 1 300); do kill -0 $vmm 2>/dev/null || break; sleep 0.2; done
	ok=1
	! kill -0 $vmm 2>/dev/null && passt_none && ok=0
	result "--jail --net passt: stopped, the VMM and passt are gone" $ok
	[ $ok = 0 ] || sed 's/^/  vmm: /' "$work/vmm.out" | tail -n 5
	kill -9 $vmm 2>/dev/null
	wait $vmm 2>/dev/null
	vmm=''
fi

echo "$E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
