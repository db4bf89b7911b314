# tests/e2e/lib.sh: shared by the e2e scripts (sourced, not run).
#
# make_initrd OUT SCRIPT [HOST_BINARY...]
#   A busybox initramfs whose /init mounts /dev, /proc, /sys and /tmp, runs
#   SCRIPT (a file, copied to /test.sh) with /dev/console as its terminal,
#   and reboots (which ends the VMM). Each HOST_BINARY is copied in at its
#   own path with the shared libraries ldd names. Files under $E2E_DATA (if
#   set) are copied to /data.
# e2e_result NAME OK: count and print a PASS or FAIL line.

E2E_PASSED=0
E2E_FAILED=0

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
	if [ "$2" = 0 ]; then
		echo "PASS $1"
		E2E_PASSED=$((E2E_PASSED + 1))
	else
		echo "FAIL $1"
		E2E_FAILED=$((E2E_FAILED + 1))
	fi
}

e2e_summary() {
	echo "$E2E_PASSED passed, $E2E_FAILED failed"
	[ "$E2E_FAILED" -eq 0 ]
}
