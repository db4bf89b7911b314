#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test_oci_registry.sh FETCH: the registry source (oci/source_registry.c)
# through oci_registry_fetch (FETCH), against servers this script starts on
# 127.0.0.1 and nowhere else:
#  1. fake_registry.py (python3): docker's token auth (Bearer), token
#     renewal, an index, error bodies, size limits, and no credential
#     following a blob's redirect to storage on another host name;
#  2. Debian's docker-registry (the Distribution registry), filled with
#     umoci and skopeo: an anonymous one, then one with htpasswd (Basic).
# Exit 77 (ctest: skipped) when a part could not run for want of its tools.
set -eu

FETCH=$1
HERE=$(cd "$(dirname "$0")" && pwd)

command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }

# Loopback only: no proxy in the way, no credentials of the user's.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export PYTHONDONTWRITEBYTECODE=1
TMP=$(mktemp -d /tmp/test_oci_registry.XXXXXX)
export HOME=$TMP/home DOCKER_CONFIG=$TMP/docker
mkdir -p "$HOME" "$DOCKER_CONFIG"
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*"
	for f in "$TMP"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done
	exit 1
}
fetch() {
	echo "+ oci_registry_fetch $*"
	"$FETCH" "$@" || fail "oci_registry_fetch $*"
}
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() { # PORT: until something listens there (10 s)
	python3 - "$1" <<-'EOF' || fail "nothing listens on 127.0.0.1:$1"
		import socket, sys, time
		for _ in range(100):
		    try:
		        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
		        sys.exit(0)
		    except OSError:
		        time.sleep(0.1)
		sys.exit(1)
	EOF
}
auth_json() { # FILE REGISTRY USER:PASS
	printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$2" "$(printf %s "$3" | base64)" >"$1"
}

# ---- 1. the fake token-auth registry -------------------------------------
python3 "$HERE/fake_registry.py" "$TMP/fake.port" 2>"$TMP/fake.log" &
PIDS="$PIDS $!"
for _ in $(seq 100); do [ -f "$TMP/fake.port" ] && break; sleep 0.1; done
[ -f "$TMP/fake.port" ] || fail "fake_registry.py did not start"
R=127.0.0.1:$(cat "$TMP/fake.port")
auth_json "$TMP/good.json" "$R" user:pass
auth_json "$TMP/bad.json" "$R" user:wrong
LAYER=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import fake_registry as f; print(f.digest(f.LAYER))' "$HERE")

# no credential: an anonymous token, which the registry refuses
fetch --expect EACCES --msg "authentication required" "$R" test/img t
fetch --auth-file "$TMP/good.json" "$R" test/img t
fetch --auth-file "$TMP/good.json" "$R" test/img idx
# three walks on one source: tokens run out and are renewed
before=$(grep -c 'GET /token' "$TMP/fake.log")
fetch --auth-file "$TMP/good.json" --repeat 3 "$R" test/img t
[ $(($(grep -c 'GET /token' "$TMP/fake.log") - before)) -ge 4 ] || fail "tokens were not renewed"
grep -q 'GET /storage/' "$TMP/fake.log" || fail "blobs were not redirected to storage"
! grep -q LEAK "$TMP/fake.log" || fail "credentials followed a redirect"
# $DOCKER_CONFIG/config.json when no file is named
cp "$TMP/good.json" "$DOCKER_CONFIG/config.json"
fetch "$R" test/img t
rm "$DOCKER_CONFIG/config.json"
fetch --auth-file "$TMP/bad.json" --expect EACCES --msg "refused the credential" "$R" test/img t
fetch --auth-file "$TMP/nonexistent.json" --expect ENOENT --msg nonexistent.json "$R" test/img t
fetch --auth-file "$TMP/good.json" --expect ENOENT --msg "manifest unknown: test/img:nope" \
	"$R" test/img nope
fetch --auth-file "$TMP/good.json" --expect EIO --msg "HTTP 500: UNKNOWN: boom" "$R" test/img broken
fetch --auth-file "$TMP/good.json" --expect EFBIG "$R" test/img huge
fetch --auth-file "$TMP/good.json" --expect EFBIG --blob "$LAYER:1000" "$R" test/img t
fetch --auth-file "$TMP/good.json" --expect ENOENT --msg "blob unknown" \
	--blob "sha256:$(printf '%064d' 0):10" "$R" test/img t
echo "fake token registry: ok"

# ---- 2. docker-registry, filled by umoci and skopeo ----------------------
for t in docker-registry skopeo umoci htpasswd; do
	command -v $t >/dev/null || { echo "SKIP: docker-registry part: no $t"; exit 77; }
done

start_registry() { # NAME [AUTH-YAML]: a registry on a free port; R=its host:port
	port=$(free_port)
	cat >"$TMP/$1.yml" <<-EOF
		version: 0.1
		log:
		  level: warn
		storage:
		  filesystem:
		    rootdirectory: $TMP/$1.store
		http:
		  addr: 127.0.0.1:$port
		${2:-}
	EOF
	docker-registry serve "$TMP/$1.yml" >"$TMP/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_port "$port"
	R=127.0.0.1:$port
}

# An image of two layers.
L=$TMP/layout
umoci init --layout "$L" >/dev/null
umoci new --image "$L:t" >/dev/null
umoci unpack --rootless --image "$L:t" "$TMP/b1" >/dev/null
echo hello >"$TMP/b1/rootfs/hello"
umoci repack --image "$L:t" "$TMP/b1" >/dev/null
umoci unpack --rootless --image "$L:t" "$TMP/b2" >/dev/null
head -c 400000 /dev/urandom >"$TMP/b2/rootfs/random"
umoci repack --image "$L:t" "$TMP/b2" >/dev/null
push() { # REGISTRY [skopeo options]
	r=$1
	shift
	skopeo --insecure-policy copy -q --dest-tls-verify=false "$@" "oci:$L:t" \
		"docker://$r/test/img:t" >"$TMP/skopeo.log" 2>&1 || fail "skopeo copy to $r"
}

start_registry open
push "$R"
fetch "$R" test/img t
fetch --expect ENOENT --msg "manifest unknown" "$R" test/img nope
fetch --expect ENOENT --msg "manifest unknown" "$R" test/other t

htpasswd -Bbn user pass >"$TMP/htpasswd"
start_registry basic "auth: {htpasswd: {realm: kvmbox-test, path: $TMP/htpasswd}}"
push "$R" --dest-creds user:pass
fetch --expect EACCES --msg "authentication required (docker login" "$R" test/img t
auth_json "$DOCKER_CONFIG/config.json" "$R" user:pass
fetch "$R" test/img t
auth_json "$DOCKER_CONFIG/config.json" "http://$R/v1/" user:pass
fetch "$R" test/img t
auth_json "$DOCKER_CONFIG/config.json" "$R" user:wrong
fetch --expect EACCES --msg "access denied with the credential" "$R" test/img t
echo "docker-registry: ok"
