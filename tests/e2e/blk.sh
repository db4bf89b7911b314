#!/usr/bin/env bash
# e2e virtio-blk tests: run inside tools/kvm-env (real KVM, natively or nested).
#
# Usage: blk.sh KVMBOX   (KVMBOX_KERNEL_DIR names the guest kernel)
#
# The guest runs a shell script from a busybox initramfs (the step is on its
# command line as kvmbox.step=NAME); the host checks the disk images without
# mounting them (e2fsprogs' debugfs, cmp, sha256sum).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=$1
kernel=${KVMBOX_KERNEL_DIR:?set KVMBOX_KERNEL_DIR}/vmlinux
work=$(mktemp -d)
trap '[ -n "${E2E_KEEP:-}" ] || rm -rf "$work"' EXIT
mkdir "$work/data"
head -c $((1024 * 1024 + 4096)) /dev/urandom >"$work/data/random.bin"
seq 1 20000 >"$work/seq.txt"

# The guest side of every step. The host's mke2fs and util-linux
# blkdiscard (which has -z, write-zeroes) are called by full path: busybox
# has applets of the same names.
cat >"$work/guest.sh" <<'GUEST'
step=$(sed -n 's/.*kvmbox\.step=\([a-z0-9-]*\).*/\1/p' /proc/cmdline)
echo "step $step"
case $step in
mkfs)
	/sbin/mke2fs -t ext4 -q -F /dev/vda || exit 1
	mount -t ext4 /dev/vda /mnt || exit 1
	cp /data/random.bin /mnt/random.bin
	seq 1 20000 >/mnt/seq.txt
	mkdir /mnt/dir && echo nested >/mnt/dir/file
	sync && umount /mnt || exit 1
	;;
ro)
	mount -t ext4 -o ro /dev/vda /mnt || exit 1
	tail -n 1 /mnt/seq.txt
	umount /mnt
	if dd if=/dev/zero of=/dev/vda bs=512 count=1 conv=fsync 2>/dev/null; then
		echo "write to a read-only disk succeeded"
		exit 1
	fi
	echo "ro-refused"
	;;
two)
	cat /sys/block/vda/size /sys/block/vdb/size
	# The serial attribute has no newline of its own.
	echo "$(cat /sys/block/vda/serial)"; echo "$(cat /sys/block/vdb/serial)"
	[ "$(cat /sys/block/vdb/ro)" = 0 ] && [ "$(cat /sys/block/vda/ro)" = 1 ] || exit 1
	dd if=/data/random.bin of=/dev/vdb bs=4096 conv=fsync 2>/dev/null || exit 1
	;;
kill)
	dd if=/data/random.bin of=/dev/vda bs=4096 2>/dev/null || exit 1
	sync
	echo "synced-marker"
	sleep 1000
	;;
discard)
	/sbin/blkdiscard -o 0 -l 1048576 /dev/vda || exit 1
	/sbin/blkdiscard -z -o 1048576 -l 1048576 /dev/vda || exit 1
	sync
	;;
esac
GUEST
E2E_DATA="$work/data" make_initrd "$work/initrd.gz" "$work/guest.sh" /sbin/mke2fs /sbin/blkdiscard

# boot STEP ARGS...: boot with kvmbox.step=STEP, console in $work/STEP.out;
# true when the guest's script exited 0 and the VMM exited 0.
boot() {
	local step=$1 rc
	shift
	e2e_bounded "${E2E_BOOT_TIMEOUT:-300}" "$work/$step.raw" "$kvmbox" run --kernel "$kernel" \
		--initrd "$work/initrd.gz" --memory 256 \
		--append "kvmbox.step=$step ${E2E_APPEND:-}" "$@" >"$work/$step.raw" 2>&1 </dev/null
	rc=$?
	# The console's line discipline ends lines with \r\n.
	tr -d '\r' <"$work/$step.raw" >"$work/$step.out"
	if [ $rc -ne 0 ] || ! grep -q "^test-exit 0" "$work/$step.out"; then
		echo "  step $step: kvmbox exit $rc; console:"
		grep -v '^\[' "$work/$step.out" | tail -n 20 | sed 's/^/    /'
		return 1
	fi
}

# 1. The guest makes ext4 on /dev/vda, writes files, syncs, reboots.
truncate -s 64M "$work/a.img"
ok=1
if boot mkfs --disk "$work/a.img"; then
	debugfs -R "dump /random.bin $work/random.out" "$work/a.img" 2>/dev/null
	debugfs -R "cat /seq.txt" "$work/a.img" 2>/dev/null >"$work/seq.out"
	cmp -s "$work/data/random.bin" "$work/random.out" &&
		cmp -s "$work/seq.txt" "$work/seq.out" &&
		[ "$(debugfs -R "cat /dir/file" "$work/a.img" 2>/dev/null)" = nested ] &&
		dumpe2fs -h "$work/a.img" 2>/dev/null | grep -q 'features:.*extent' &&
		e2fsck -fn "$work/a.img" >/dev/null 2>&1 && ok=0
fi
e2e_result "guest mkfs.ext4 and writes; host reads the bytes back with debugfs" $ok

# 2. A read-only disk: mounts, reads, refuses writes; the image is unchanged.
sum=$(sha256sum <"$work/a.img")
ok=1
boot ro --disk "$work/a.img,ro" && grep -q '^20000$' "$work/ro.out" &&
	grep -q '^ro-refused' "$work/ro.out" && [ "$(sha256sum <"$work/a.img")" = "$sum" ] && ok=0
e2e_result "read-only disk reads and refuses writes" $ok

# 3. Two disks at once, with their sizes and serials.
truncate -s 8M "$work/b.img"
ok=1
boot two --disk "$work/a.img,ro,id=first" --disk "$work/b.img,id=second-disk" &&
	grep -q '^131072$' "$work/two.out" && grep -q '^16384$' "$work/two.out" &&
	grep -q '^first$' "$work/two.out" && grep -q '^second-disk$' "$work/two.out" &&
	cmp -s -n "$(stat -c %s "$work/data/random.bin")" "$work/data/random.bin" "$work/b.img" &&
	ok=0
e2e_result "two disks: sizes, serials, raw writes reach the second" $ok

# 4. Data the guest synced survives a kill -9 of the VMM.
truncate -s 8M "$work/c.img"
"$kvmbox" run --kernel "$kernel" --initrd "$work/initrd.gz" --memory 256 \
	--append "kvmbox.step=kill" --disk "$work/c.img" >"$work/kill.out" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 600); do
	grep -q '^synced-marker' "$work/kill.out" && break
	sleep 0.2
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
ok=1
grep -q '^synced-marker' "$work/kill.out" &&
	cmp -s -n "$(stat -c %s "$work/data/random.bin")" "$work/data/random.bin" "$work/c.img" && ok=0
e2e_result "synced data survives kill -9 of the VMM" $ok

# 5. Discard punches a hole; write-zeroes zeroes; the rest is untouched.
head -c $((4 * 1024 * 1024)) /dev/urandom >"$work/d.img"
cp "$work/d.img" "$work/d.orig"
blocks=$(stat -c %b "$work/d.img")
ok=1
boot discard --disk "$work/d.img" &&
	cmp -s -n 2097152 /dev/zero "$work/d.img" &&
	cmp -s -i 2097152 "$work/d.orig" "$work/d.img" &&
	[ "$(stat -c %b "$work/d.img")" -lt "$blocks" ] && ok=0
e2e_result "discard and write-zeroes" $ok

e2e_summary
