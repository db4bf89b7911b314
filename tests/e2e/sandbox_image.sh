#!/usr/bin/env bash
# e2e: a persistent IMAGE sandbox (docs/sandboxes.md, "Persistence"): the
# overlay's upper layer is the host folder DIR/upper, shared over
# virtio-fs, so a file written in the image's root survives stop and start.
#
# Usage: sandbox_image.sh KVMBOX
# (run inside tools/kvm-env; KVMBOX_KERNEL_DIR names the guest kernel)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=$1
: "${KVMBOX_KERNEL_DIR:?set KVMBOX_KERNEL_DIR}"
command -v umoci >/dev/null || { echo "SKIP: umoci is not installed (tools/setup)"; exit 77; }
work=$(mktemp -d)
export TMPDIR=$work/tmp KVMBOX_SANDBOX_DIR=$work/sbx
mkdir -p "$TMPDIR"
if ! touch /var/tmp/.kvmbox-probe 2>/dev/null; then
	mount -t tmpfs tmpfs /var/tmp || echo "FAIL cannot make /var/tmp writable"
fi
rm -f /var/tmp/.kvmbox-probe
cleanup() {
	timeout 60 "$kvmbox" rm -f img >/dev/null 2>&1
	mountpoint -q "$work/store" && umount "$work/store"
	rm -rf "$work"
}
trap cleanup EXIT
# The store keeps ownership in user xattrs: an ext4, as in oci.sh.
mkdir -p "$work/store"
truncate -s 256M "$work/store.img"
mkfs.ext4 -q -F "$work/store.img" && mount -o loop "$work/store.img" "$work/store" ||
	{ echo "FAIL cannot mount an ext4 for the store"; exit 1; }
export KVMBOX_HOME=$work/store/kvmbox
kb() { timeout -k 5 400 "$kvmbox" "$@"; }
E2E_WORK=$work E2E_KVMBOX=$kvmbox E2E_CONTROL=$KVMBOX_SANDBOX_DIR/img/control.sock
E2E_CONSOLE=$KVMBOX_SANDBOX_DIR/img/console.log E2E_VMM_LOG=$KVMBOX_SANDBOX_DIR/img/vmm.log
check() { e2e_check "$@"; }

L=$work/layout
umoci init --layout "$L"
umoci new --image "$L:t"
umoci unpack --image "$L:t" "$work/b"
r=$work/b/rootfs
mkdir -p "$r/bin" "$r/etc" "$r/data" "$r/tmp"
cp /bin/busybox "$r/bin/busybox"
for a in sh cat echo ls sync id; do ln -s busybox "$r/bin/$a"; done
echo "from the image" >"$r/etc/motd"
umoci repack --image "$L:t" "$work/b"
# Env, WorkingDir and User: what every exec into the sandbox starts with,
# as in docker exec (docs/sandboxes.md); the writes below are root's (-u).
umoci config --image "$L:t" --config.cmd false --config.env IMG_VAR=from-image \
	--config.env PATH=/bin --config.workingdir /data --config.user 1000:1000
kb pull "oci:$L:t" >"$work/out" 2>"$work/err"
check "pull" [ $? -eq 0 ]

kb create --name img --persistent --memory 256 "oci:$L:t" >"$work/out" 2>"$work/err"
rc=$?
sed 's/^/  create: /' "$work/err"
check "create --persistent IMAGE (its command, false, does not run)" [ $rc -eq 0 ]
kb exec img -- sh -c 'echo "$IMG_VAR $PWD $(id -u)"' >"$work/out" 2>"$work/err"
check "exec starts with the image's Env, WorkingDir and User" \
	[ "$(cat "$work/out")" = "from-image /data 1000" ]
kb exec -e IMG_VAR=mine -w / -u 0:0 img -- sh -c 'echo "$IMG_VAR $PWD $(id -u)"' \
	>"$work/out" 2>"$work/err"
check "exec's -e, -w and -u win over the image's" [ "$(cat "$work/out")" = "mine / 0" ]
kb exec -u 0:0 img -- sh -c 'echo kept >/data/x && rm /etc/motd && sync && cat /data/x' \
	>"$work/out" 2>"$work/err"
check "exec writes to the image's root" [ "$(cat "$work/out")" = kept ]
check "the upper layer is the host folder" [ -f "$KVMBOX_SANDBOX_DIR/img/upper/data/data/x" ]
kb stop img >"$work/out" 2>"$work/err"
check "stop" [ $? -eq 0 ]
kb start img >"$work/out" 2>"$work/err"
rc=$?
sed 's/^/  start: /' "$work/err"
check "start" [ $rc -eq 0 ]
kb exec -u 0:0 img -- sh -c 'cat /data/x; ls /etc/motd 2>&1 || echo whiteout-kept' \
	>"$work/out" 2>"$work/err"
check "after start: the file is there, the removed one still gone" \
	sh -c "head -n 1 '$work/out' | grep -qx kept && grep -qx whiteout-kept '$work/out'"
kb rm -f img >"$work/out" 2>"$work/err"
check "rm -f a running sandbox" sh -c "[ $? -eq 0 ] && [ ! -e '$KVMBOX_SANDBOX_DIR/img' ]"
e2e_summary
