#!/usr/bin/env bash
# e2e: the file operations (docs/protocol.md, "File operations") through
# the control socket, with kvmbox cp and kvmbox fs.
#
# Usage: files.sh KVMBOX KVMBOX_AGENT
# (run inside tools/kvm-env; KVMBOX_KERNEL_DIR names the guest kernel)
#
# Boots the agent's initramfs with --control, then: a 100 MiB file in and
# out, checked by sha256 on both sides; a folder of 10,000 small files in
# and out as tar; 8 transfers at once each way; kvmbox fs ls, stat, cat,
# mkdir and rm; the one-line errors.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=$1 agent=$2
kernel=${KVMBOX_KERNEL_DIR:?set KVMBOX_KERNEL_DIR}/vmlinux
work=$(mktemp -d)
sock=$work/c.sock
trap 'kill $vmm 2>/dev/null; rm -rf "$work"' EXIT
# Every client call is bounded: a hang fails the check instead of the run.
kx() { timeout -k 5 300 "$kvmbox" exec "$@"; }
kcp() { timeout -k 5 600 "$kvmbox" cp "$@"; }
kfs() { timeout -k 5 120 "$kvmbox" fs "$@"; }

"$here/../../tools/mk-agent-initrd" "$agent" "$work/initrd.gz"
# The initramfs is the guest's root: 100 MiB in and a tree fit in 768 MiB.
e2e_vmm_start "$kvmbox" "$work" --kernel "$kernel" --initrd "$work/initrd.gz" --memory 768 --cpus 1
check() { e2e_check "$@"; }
# guest_sha PATH: the sha256 of a guest file, computed in the guest.
guest_sha() { kx "$sock" -- sha256sum "$1" 2>"$work/err" | cut -d' ' -f1; }
host_sha() { sha256sum "$1" | cut -d' ' -f1; }
# tree_sum DIR (host) / guest_tree_sum DIR: names and contents of a tree, hashed.
tree_sum() { (cd "$1" && find . -type f | sort | xargs cat | sha256sum | cut -d' ' -f1); }
guest_tree_sum() {
	kx "$sock" -- sh -c "cd '$1' && find . -type f | sort | xargs cat | sha256sum" \
		2>"$work/err" | cut -d' ' -f1
}

# The agent answers (the guest booted).
check "the agent answers" sh -c "timeout 150 '$kvmbox' exec '$sock' -- true 2>'$work/err'"

# 100 MiB in and out.
head -c $((100 << 20)) /dev/urandom >"$work/big"
want=$(host_sha "$work/big")
check "100 MiB in: kvmbox cp" kcp "$work/big" "$sock:/tmp/big" 2>"$work/err"
check "100 MiB in: the guest's sha256 matches" [ "$(guest_sha /tmp/big)" = "$want" ]
check "100 MiB out: kvmbox cp" kcp "$sock:/tmp/big" "$work/big.out" 2>"$work/err"
check "100 MiB out: the host's sha256 matches" [ "$(host_sha "$work/big.out")" = "$want" ]
kfs rm "$sock" /tmp/big 2>"$work/err"
rm -f "$work/big.out"

# 10,000 small files as tar, in and out.
mkdir -p "$work/tree"
for d in $(seq 0 99); do
	mkdir "$work/tree/d$d"
	for f in $(seq 0 99); do echo "file $d/$f" >"$work/tree/d$d/f$f"; done
done
ln -s d0/f0 "$work/tree/link"
chmod 0750 "$work/tree/d1"
want=$(tree_sum "$work/tree")
check "10,000 files in: kvmbox cp -r" kcp -r "$work/tree" "$sock:/tmp/tree" 2>"$work/err"
check "10,000 files in: count" \
	[ "$(kx "$sock" -- sh -c 'find /tmp/tree -type f | wc -l' 2>"$work/err")" = 10000 ]
check "10,000 files in: contents" [ "$(guest_tree_sum /tmp/tree)" = "$want" ]
check "10,000 files in: a symlink and a mode kept" \
	[ "$(kx "$sock" -- sh -c 'readlink /tmp/tree/link; stat -c %a /tmp/tree/d1' \
		2>"$work/err" | tr '\n' ' ')" = "d0/f0 750 " ]
check "10,000 files out: kvmbox cp -r" kcp -r "$sock:/tmp/tree" "$work/tree.out" 2>"$work/err"
check "10,000 files out: the same tree" diff -r --no-dereference "$work/tree" "$work/tree.out"
check "10,000 files out: a mode kept" [ "$(stat -c %a "$work/tree.out/d1")" = 750 ]
kfs rm -r "$sock" /tmp/tree 2>"$work/err"
rm -rf "$work/tree.out"

# 8 transfers at once, each way.
for i in $(seq 1 8); do head -c $((8 << 20)) /dev/urandom >"$work/c$i"; done
pids=
for i in $(seq 1 8); do
	kcp "$work/c$i" "$sock:/tmp/c$i" 2>"$work/err.c$i" &
	pids="$pids $!"
done
ok=0
for p in $pids; do wait "$p" || ok=1; done
check "8 transfers in at once: all succeed" [ $ok = 0 ]
bad=0
for i in $(seq 1 8); do [ "$(guest_sha /tmp/c$i)" = "$(host_sha "$work/c$i")" ] || bad=1; done
check "8 transfers in at once: all intact" [ $bad = 0 ]
pids=
for i in $(seq 1 8); do
	kcp "$sock:/tmp/c$i" "$work/o$i" 2>"$work/err.o$i" &
	pids="$pids $!"
done
ok=0
for p in $pids; do wait "$p" || ok=1; done
check "8 transfers out at once: all succeed" [ $ok = 0 ]
bad=0
for i in $(seq 1 8); do cmp -s "$work/c$i" "$work/o$i" || bad=1; done
check "8 transfers out at once: all intact" [ $bad = 0 ]

# kvmbox fs, and the one-line errors.
check "fs mkdir -p" kfs mkdir -p "$sock" "/tmp/a b/c" 2>"$work/err"
echo "hello" | kcp - "$sock:/tmp/a b/c/hello" 2>"$work/err"
check "fs cat" [ "$(kfs cat "$sock" "/tmp/a b/c/hello" 2>"$work/err")" = hello ]
check "fs ls" [ "$(kfs ls "$sock" "/tmp/a b" 2>"$work/err")" = c ]
check "fs stat" sh -c "'$kvmbox' fs stat '$sock' '/tmp/a b/c/hello' 2>'$work/err' |
	grep -qx 'size 6'"
check "fs rm of a folder needs -r" sh -c "! '$kvmbox' fs rm '$sock' '/tmp/a b' 2>'$work/err'"
check "fs rm -r" kfs rm -r "$sock" "/tmp/a b" 2>"$work/err"
kcp "$sock:/tmp/nope" "$work/nope" 2>"$work/err"
rc=$?
check "a missing file: exit 1 and one clear line" sh -c "[ $rc = 1 ] &&
	grep -qx 'kvmbox cp: $sock:/tmp/nope: No such file or directory' '$work/err'"

timeout 60 "$kvmbox" stop "$sock" >/dev/null 2>&1
for _ in $(seq 1 300); do kill -0 $vmm 2>/dev/null || break; sleep 0.2; done
kill -9 $vmm 2>/dev/null
e2e_summary
