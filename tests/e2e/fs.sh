#!/usr/bin/env bash
# e2e: virtio-fs. A guest whose root is a host folder (--rootfs-dir, made
# by tools/mk-rootfs --dir) with two volumes (--volume): /data read-write
# and /ro read-only. Everything the guest writes is checked on the host
# side by hash or stat; a host change must reach the guest; the read-only
# volume refuses writes; and what a guest does to reach beyond the share
# (symlinks to / and to host paths, .. walks) leaves everything outside
# it as it was.
#
# Usage: fs.sh KVMBOX KVMBOX_AGENT FS_CHECK
# (run inside tools/kvm-env; KVMBOX_KERNEL_DIR names the guest kernel; the
# agent's initramfs is the one the build puts beside KVMBOX)
#
# Boots 1: the root read-write, the volumes, every check; 2: the same root
# read-only, cached by the guest (--rootfs-dir DIR,ro,cache=always).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=$1 agent=$2 fs_check=$3
kernel=${KVMBOX_KERNEL_DIR:?set KVMBOX_KERNEL_DIR}/vmlinux
# On L1's own tmpfs: never a share or a socket on a 9p mount.
work=$(mktemp -d)
sock=$work/c.sock
vmm=
trap '[ -n "$vmm" ] && kill $vmm 2>/dev/null; rm -rf "$work"' EXIT
kx() { timeout -k 5 150 "$kvmbox" exec "$@"; }

"$here/../../tools/mk-rootfs" --dir "$agent" "$work/root"
mkdir -p "$work/vol" "$work/ro/src" "$work/outside"
cp "$fs_check" "$work/ro/fs_check"
echo "read-only greeting" >"$work/ro/greeting"
echo "host secret" >"$work/outside/secret"
chmod 0640 "$work/outside/secret"
# A tree to extract in the guest: 400 files of 0 to 64 KiB in 20 folders,
# symlinks among them.
for d in $(seq 1 20); do
	mkdir -p "$work/ro/src/d$d/sub"
	for f in $(seq 1 20); do
		head -c $(((d * 131 + f * 977) % 65536)) /dev/urandom >"$work/ro/src/d$d/f$f"
	done
	ln -s "../d$d/f1" "$work/ro/src/d$d/sub/link"
done
(cd "$work/ro" && tar cf tree.tar src)
outside_state() { (cd "$work" && find outside -printf '%p %m %s %T@\n' && cat outside/secret) | sort | sha256sum; }
outside_before=$(outside_state)

# boot NAME ROOTFS_DIR_ARG: a VM with the two volumes, driven through $sock.
boot() {
	rm -f "$sock"
	"$kvmbox" run --kernel "$kernel" --memory 256 --control "$sock" \
		--rootfs-dir "$2" --volume "$work/vol:/data" --volume "$work/ro:/ro:ro" \
		--console "$work/$1.console" >"$work/$1.vmm" 2>&1 </dev/null &
	vmm=$!
	E2E_VMM_PID=$vmm E2E_CONSOLE=$work/$1.console E2E_VMM_LOG=$work/$1.vmm
	E2E_CONTROL=$sock E2E_KVMBOX=$kvmbox
	for _ in $(seq 1 600); do [ -S "$sock" ] && break; sleep 0.1; done
}

# stop NAME: kvmbox stop; the VMM must exit 0.
stop() {
	local rc
	timeout 60 "$kvmbox" stop "$sock" >/dev/null 2>&1
	for _ in $(seq 1 300); do kill -0 $vmm 2>/dev/null || break; sleep 0.2; done
	kill $vmm 2>/dev/null
	wait $vmm
	rc=$?
	vmm=
	[ $rc -eq 0 ] || { echo "  kvmbox exit $rc"; tail -n 20 "$work/$1.vmm"; }
	e2e_result "$1: stop ends the VM" $([ $rc -eq 0 ] && echo 0 || echo 1)
}

# run NAME WANT_STDOUT ARGV...: the guest command exits 0 and prints WANT_STDOUT.
run() {
	local name=$1 want=$2 rc
	shift 2
	kx "$sock" -- "$@" >"$work/out" 2>"$work/err"
	rc=$?
	if [ $rc -eq 0 ] && [ "$(cat "$work/out")" = "$want" ]; then
		e2e_result "$name" 0
	else
		echo "  exit $rc, stdout: $(head -c 300 "$work/out")"
		echo "  want: $want"
		sed 's/^/  stderr: /' "$work/err" | head -n 5
		e2e_result "$name" 1
	fi
}

# host NAME WANT CMD...: a host-side check: CMD's stdout is WANT.
host() {
	local name=$1 want=$2 got
	shift 2
	got=$("$@" 2>&1)
	[ "$got" = "$want" ] || { echo "  host: $got"; echo "  want: $want"; }
	e2e_result "$name" $([ "$got" = "$want" ] && echo 0 || echo 1)
}

# tree_hash DIR: every file's path and content hash, every link's target.
tree_hash() {
	(cd "$1" && { find . -type f -exec sha256sum {} +; find . -type l -printf '%p -> %l\n'; } |
		sort | sha256sum)
}

# pattern_hash SIZE: the hash of fs_check's pattern (byte i = i * 7 + 3).
pattern_hash() {
	python3 -c 'import sys, hashlib; n = int(sys.argv[1])
print(hashlib.sha256(bytes((i * 7 + 3) & 255 for i in range(n))).hexdigest())' "$1"
}

boot rw "$work/root"
root_mount='awk '\''$2 == "/" { r = $1 " " $3 " " substr($4, 1, 2) } END { print r }'\'' /proc/mounts'
run "the root is the host folder over virtio-fs" "rootfs virtiofs rw" sh -c "$root_mount"
run "the volumes are mounted" "vol0 /data rw vol1 /ro ro" \
	sh -c "awk '\$3 == \"virtiofs\" && \$2 != \"/\" { print \$1, \$2, substr(\$4, 1, 2) }' /proc/mounts | xargs"
run "a file written in the guest's root" "" sh -c 'echo from-guest >/root/written'
host "... is on the host" "from-guest" cat "$work/root/root/written"

run "tar extracts 400 files into the volume" "" tar -C /data -xf /ro/tree.tar
host "... with the same bytes and links on the host" "$(tree_hash "$work/ro/src")" \
	tree_hash "$work/vol/src"
run "the guest sees the same hashes" "$(cd "$work/ro" && sha256sum src/d7/f3 | cut -c1-64)" \
	sh -c 'cd /data && sha256sum src/d7/f3 | cut -c1-64'

run "renames, a hard link and a symlink" "" sh -c \
	'mv /data/src/d1 /data/src/d1-moved && mv /data/src/d2/f2 /data/renamed &&
	 ln /data/renamed /data/hardlink && ln -s renamed /data/symlink'
host "... renamed on the host" "yes no" sh -c \
	"[ -f '$work/vol/src/d1-moved/f5' ] && echo -n 'yes ' ; [ -e '$work/vol/src/d1' ] && echo yes || echo no"
host "... the hard link is one inode with two links" "2 same" sh -c \
	"echo \$(stat -c %h '$work/vol/renamed') \$([ \$(stat -c %i '$work/vol/renamed') = \$(stat -c %i '$work/vol/hardlink') ] && echo same)"
host "... the symlink's target" "renamed" readlink "$work/vol/symlink"
run "the guest sees one inode for both names" "2" stat -c %h /data/hardlink

run "xattrs set in the guest" "kvmbox-value listed" /ro/fs_check xattr /data/renamed trusted.kvmbox kvmbox-value
host "... are on the host file" "kvmbox-value" python3 -c \
	'import os, sys; print(os.getxattr(sys.argv[1], "trusted.kvmbox").decode())' "$work/vol/renamed"

run "mmap MAP_SHARED writes and msync" "" /ro/fs_check mmap /data/mapped 1048576
host "... reach the host file" "$(pattern_hash 1048576)" sh -c "sha256sum '$work/vol/mapped' | cut -c1-64"
run "write and fsync" "" /ro/fs_check fsync /data/synced 3000000
host "... reach the host file" "$(pattern_hash 3000000)" sh -c "sha256sum '$work/vol/synced' | cut -c1-64"

echo "version one" >"$work/vol/from-host"
run "a host file is seen by the guest" "version one" cat /data/from-host
echo "version two, longer" >"$work/vol/from-host"
sleep 2 # the FUSE attribute timeout (1 s) passes
run "a host change is seen by the guest" "version two, longer" cat /data/from-host

run "the read-only volume is readable" "read-only greeting" cat /ro/greeting
run "the read-only volume refuses writes" "refused refused refused refused" sh -c \
	'for c in "touch /ro/new" "rm /ro/greeting" "mkdir /ro/dir" "mv /ro/greeting /ro/g2"; do
	     $c 2>/dev/null && echo written || echo refused
	 done | xargs'
host "... and the host folder is unchanged" "$(printf 'fs_check\ngreeting\nsrc\ntree.tar')" ls "$work/ro"

run "escapes: symlinks to / and to host paths resolve in the guest" "guest guest none" sh -c \
	"ln -s / /data/to-root && ln -s '$work/outside/secret' /data/to-secret &&
	 ln -s ../../../../../../.. /data/up &&
	 [ -f /data/to-root/bin/busybox ] && echo -n 'guest ' ;
	 [ -d /data/up/proc/1 ] && echo -n 'guest ' ;
	 cat /data/to-secret 2>/dev/null || echo none"
run "escapes: .. above the volume is the guest's /" "kvmbox" \
	cat /data/../etc/hostname
run "escapes: writing through the symlinks stays in the guest" "" sh -c \
	'echo x >/data/to-root/tmp/through-link; chmod 600 /data/to-secret 2>/dev/null; true'
host "escapes: nothing outside the shares changed" "$outside_before" outside_state
host "escapes: the host's / and /etc are as they were" "755 755" sh -c 'stat -c %a / /etc | xargs'
stop rw

echo one >"$work/root/cached"
boot ro "$work/root,ro,cache=always"
run "read-only root: / is virtiofs, read-only" "rootfs virtiofs ro" sh -c "$root_mount"
run "read-only root: writing / fails, /tmp works" "EROFS tmp" sh -c \
	'{ touch /x 2>/dev/null && echo written || echo EROFS; echo tmp >/tmp/t && cat /tmp/t; } | xargs'
run "read-only root: the volumes are still there" "read-only greeting" cat /ro/greeting
# cache=always: the guest keeps what it read across opens, even when the
# host changes the file behind it (the policy took effect).
run "cache=always: the guest reads a file" "one" cat /cached
echo two >"$work/root/cached"
run "cache=always: the guest keeps its cached copy" "one" cat /cached
stop ro
e2e_summary
