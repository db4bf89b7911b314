#!/usr/bin/env bash
# e2e: OCI images. An image built here from busybox with umoci (two layers,
# the second with a whiteout, an opaque folder and a config with Env,
# WorkingDir and Cmd), copied with skopeo into a docker archive and into
# Debian's docker-registry (the Distribution registry) listening on
# loopback, once open and once behind basic auth. kvmbox pulls it from
# each source and `kvmbox run IMAGE` must see the image's files, env and
# working folder; what one sandbox writes the next does not see; a
# tampered blob is refused and leaves the store as it was.
#
# Usage: oci.sh KVMBOX
# (run inside tools/kvm-env: the registries listen on L1's own loopback;
# KVMBOX_KERNEL_DIR names the guest kernel)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=$1
export KVMBOX_KERNEL_DIR=${KVMBOX_KERNEL_DIR:?set KVMBOX_KERNEL_DIR}
for t in umoci skopeo docker-registry htpasswd; do
	command -v $t >/dev/null || { echo "SKIP: $t is not installed (tools/setup)"; exit 77; }
done

work=$(mktemp -d)
# skopeo keeps blobs in $TMPDIR, and for a docker archive in /var/tmp
# whatever it says: L1's is on the host's read-only root, so a tmpfs goes
# over it there (only where it cannot be written).
export TMPDIR=$work/tmp
mkdir -p "$TMPDIR"
if ! touch /var/tmp/.kvmbox-probe 2>/dev/null; then
	mount -t tmpfs tmpfs /var/tmp || echo "FAIL cannot make /var/tmp writable"
fi
rm -f /var/tmp/.kvmbox-probe
# L1 has no network card and leaves even loopback down: the registries
# listen on it.
ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	mountpoint -q "$work/store" && umount "$work/store"
	[ "${KVM_ENV_L1:-0}" = 1 ] && mountpoint -q /var/tmp && umount /var/tmp
	rm -rf "$work"
}
trap cleanup EXIT

# The store keeps owners and modes in user xattrs, which L1's tmpfs (Linux
# 6.1) has not: an ext4 of its own.
mkdir -p "$work/store"
truncate -s 1G "$work/store.img"
mkfs.ext4 -q -F "$work/store.img" && mount -o loop "$work/store.img" "$work/store" ||
	{ echo "FAIL cannot mount an ext4 for the store"; exit 1; }
store=$work/store/kvmbox
# K VERB ARGS...: a kvmbox verb on the store.
K() { timeout -k 5 300 "$kvmbox" "$1" --store "$store" "${@:2}"; }
# krun ARGS...: kvmbox run with the store; options go before the image.
krun() { timeout -k 5 300 "$kvmbox" run --store "$store" --memory 256 "$@" </dev/null; }

# check NAME WANT CMD...: CMD's stdout (stderr kept for the failure) is
# WANT. One CMD argument is a string of shell, run here (so K and krun work).
check() {
	local name=$1 want=$2 got
	shift 2
	if [ $# -eq 1 ]; then
		got=$(eval "$1" 2>"$work/err")
	else
		got=$("$@" 2>"$work/err")
	fi
	if [ "$got" = "$want" ]; then
		e2e_result "$name" 0
	else
		echo "  want: $want"
		echo "  got:  $got"
		sed 's/^/  stderr: /' "$work/err" | tail -n 15
		e2e_result "$name" 1
	fi
}

# --- the image ---------------------------------------------------------
L=$work/layout
umoci init --layout "$L"
umoci new --image "$L:t"
umoci unpack --image "$L:t" "$work/b"
r=$work/b/rootfs
mkdir -p "$r/bin" "$r/etc" "$r/data" "$r/cache/old" "$r/tmp"
cp /bin/busybox "$r/bin/busybox"
for a in sh cat echo pwd ls test id stat mkdir rm touch env sync; do ln -s busybox "$r/bin/$a"; done
echo "layer one" >"$r/etc/greeting"
echo "from the first layer" >"$r/cache/old/file"
# (chown first: it clears the setuid bit)
echo "suid" >"$r/bin/suid" && chown 1234:5678 "$r/bin/suid" && chmod 4755 "$r/bin/suid"
umoci repack --image "$L:t" "$work/b"
rm -rf "$work/b"
umoci unpack --image "$L:t" "$work/b"
r=$work/b/rootfs
rm "$r/etc/greeting"                             # a whiteout
rm -rf "$r/cache" && mkdir -p "$r/cache/new"      # an opaque folder
echo "layer two" >"$r/etc/motd"
umoci repack --image "$L:t" "$work/b"
umoci config --image "$L:t" --config.env GREETING=hello --config.workingdir /data \
	--config.cmd sh --config.cmd -c --config.cmd 'echo default-cmd'
umoci gc --layout "$L"

skopeo copy -q oci:"$L":t docker-archive:"$work/img.tar":test/busybox:1 ||
	echo "FAIL skopeo copy to docker-archive"

# --- two registries on loopback ---------------------------------------------
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# registry NAME PORT [AUTH_FILE]: docker-registry serving from $work/NAME.
registry() {
	local name=$1 p=$2 auth=${3:-}
	mkdir -p "$work/$name"
	{
		echo "version: 0.1"
		echo "log: {level: error}"
		echo "storage: {filesystem: {rootdirectory: $work/$name}}"
		echo "http: {addr: 127.0.0.1:$p}"
		[ -n "$auth" ] && echo "auth: {htpasswd: {realm: kvmbox-test, path: $auth}}"
	} >"$work/$name.yml"
	docker-registry serve "$work/$name.yml" >"$work/$name.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "http://127.0.0.1:$p/v2/" && return 0
		sleep 0.1
	done
	echo "FAIL registry $name did not start"; cat "$work/$name.log"
}
p1=$(port) p2=$(port)
htpasswd -Bbn tester s3cret >"$work/htpasswd" 2>/dev/null
registry open "$p1"
registry auth "$p2" "$work/htpasswd"
skopeo copy -q --dest-tls-verify=false oci:"$L":t docker://127.0.0.1:$p1/test/busybox:1 ||
	echo "FAIL skopeo copy to the open registry"
skopeo copy -q --dest-tls-verify=false --dest-creds tester:s3cret oci:"$L":t \
	docker://127.0.0.1:$p2/private/busybox:1 || echo "FAIL skopeo copy to the auth registry"
printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}\n' "$p2" \
	"$(printf tester:s3cret | base64)" >"$work/config.json"

# --- pulls -------------------------------------------------------------------
check "pull from an OCI layout" "0" "K pull oci:$L:t >/dev/null 2>&1; echo \$?"
check "pull from a docker archive" "0" "K pull docker-archive:$work/img.tar >/dev/null 2>&1; echo \$?"
check "pull from a registry on loopback" "0" \
	"K pull 127.0.0.1:$p1/test/busybox:1 >/dev/null 2>&1; echo \$?"
check "pull behind basic auth without credentials: refused, says why" "1 auth" \
	"DOCKER_CONFIG=$work/none K pull 127.0.0.1:$p2/private/busybox:1 >/dev/null 2>$work/e; echo \$? \$(grep -o auth $work/e | head -n 1)"
check "pull behind basic auth with config.json" "0" \
	"K pull --auth-file $work/config.json 127.0.0.1:$p2/private/busybox:1 >/dev/null 2>&1; echo \$?"
check "pull again: nothing fetched" "0" \
	"K pull 127.0.0.1:$p1/test/busybox:1 2>&1 | grep -c 'already here' | grep -qv '^0' ; echo \$?"
check "images: four images" "4" "K images | tail -n +2 | wc -l"

# A blob that lies about itself: refused, and the store as it was.
cp -a "$L" "$work/bad"
blob=$(ls -S "$work/bad/blobs/sha256" | head -n 1)
printf 'X' | dd of="$work/bad/blobs/sha256/$blob" bs=1 seek=100 conv=notrunc status=none
# (A store of its own: the good blobs are in the main one already.)
check "a tampered layer: refused by digest" "1 digest mismatch" \
	"$kvmbox pull --store $work/store/bad oci:$work/bad:t >/dev/null 2>$work/e; echo \$? \$(grep -o 'digest mismatch' $work/e)"
check "a tampered layer: nothing kept of it" "0 0 0" \
	"cd $work/store/bad && echo \$(ls refs | wc -l) \$(ls layers/sha256 | wc -l) \$(ls tmp | wc -l)"

# --- runs --------------------------------------------------------------------
probe='cat /etc/motd; echo "$GREETING"; pwd; test -e /etc/greeting && echo greeting-shows;
ls /cache; stat -c "%a %u:%g" /bin/suid; id -u'
used_before=$(du -sb "$store" | cut -f1)
check "run (OCI layout): files, whiteout, opaque folder, env, WorkingDir, modes" \
	"$(printf 'layer two\nhello\n/data\nnew\n4755 1234:5678\n0')" \
	krun "oci:$L:t" -- sh -c "$probe; echo mine >/data/written"
check "run: no bytes written to the store per sandbox" "$used_before" "du -sb $store | cut -f1"
check "run (docker archive): the image's Cmd" "default-cmd" krun "docker-archive:$work/img.tar"
check "run (registry): a file the last sandbox wrote is not here; -e and -w win" \
	"$(printf 'override\n/etc\nabsent')" \
	krun -e GREETING=override -w /etc "127.0.0.1:$p1/test/busybox:1" -- sh -c \
	'echo "$GREETING"; pwd; test -e /data/written && echo present || echo absent'
check "run (auth registry): the root is writable, in its own layer" "rw" \
	krun "127.0.0.1:$p2/private/busybox:1" -- sh -c 'echo rw >/etc/motd && cat /etc/motd'
check "run --pull never of a missing image: refused" "1" \
	"krun --pull never 127.0.0.1:$p1/test/other:1 -- true >/dev/null 2>&1; echo \$?"

# --- rmi ---------------------------------------------------------------------
check "rmi: the archive's image goes" "0 3" \
	"K rmi docker-archive:$work/img.tar >/dev/null 2>&1; echo \$? \$(K images | tail -n +2 | wc -l)"
check "rmi: the others still run" "layer two" krun "oci:$L:t" -- cat /etc/motd
check "rmi of every image: blobs and layers swept" "0 0" \
	"K rmi oci:$L:t 127.0.0.1:$p1/test/busybox:1 127.0.0.1:$p2/private/busybox:1 >/dev/null 2>&1;
	 echo \$(ls $store/blobs/sha256 | wc -l) \$(ls $store/layers/sha256 | wc -l)"
e2e_summary
