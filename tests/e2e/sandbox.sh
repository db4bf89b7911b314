#!/usr/bin/env bash
# e2e: named sandboxes (docs/sandboxes.md): kvmbox create, exec, ls,
# logs, stop, start, rm, and a NAME where a SOCKET is taken.
#
# Usage: sandbox.sh KVMBOX
# (run inside tools/kvm-env; KVMBOX_KERNEL_DIR names the guest kernel)
#
# Two boots. 1: two creates of one name race (one wins, the other is told
# the name exists); the winner, persistent on the default root, is
# detached (the creating process has exited, the VMM is in a session of
# its own); execs from new processes, by name and by socket path; cp, fs
# and status by name; rm without -f refuses it; stop keeps its state.
# 2: start boots it again and the file written in boot 1 is there; then
# kill -9 of its VMM shows it dead in ls, and rm cleans it up.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kvmbox=$1
: "${KVMBOX_KERNEL_DIR:?set KVMBOX_KERNEL_DIR}"
# The documented fallback: no XDG_RUNTIME_DIR (as in L1) means
# /tmp/kvmbox-UID.
unset XDG_RUNTIME_DIR KVMBOX_SANDBOX_DIR
root=/tmp/kvmbox-$(id -u)
sbx=e2e-sbx-$$
dir=$root/$sbx
work=$(mktemp -d)
trap 'timeout 60 "$kvmbox" rm -f "$sbx" >/dev/null 2>&1; rm -rf "$work"' EXIT
E2E_WORK=$work E2E_KVMBOX=$kvmbox E2E_CONTROL=$dir/control.sock
E2E_CONSOLE=$dir/console.log E2E_VMM_LOG=$dir/vmm.log
# Every call is bounded: a hang fails the check instead of the run.
kb() { timeout -k 5 400 "$kvmbox" "$@"; }
check() { e2e_check "$@"; }
# ls_is STATE: kvmbox ls shows the sandbox in STATE (256M, 1 CPU).
ls_is() {
	kb ls >"$work/ls" 2>&1
	awk -v n="$sbx" -v s="$1" '$1 == n && $3 == s && $4 == 1 && $5 == "256M" { ok = 1 }
		END { exit !ok }' "$work/ls" || { cat "$work/ls"; return 1; }
}
# field N PID: field N of /proc/PID/stat (4: the parent, 6: the session).
field() { awk -v n="$1" '{ print $n }' "/proc/$2/stat" 2>/dev/null; }
# alive PID: running, not a zombie (the VMM is not our child: whoever
# adopted it reaps it when it likes).
alive() { local s; s=$(field 3 "$1"); [ -n "$s" ] && [ "$s" != Z ]; }

kb create --name ../x >"$work/out" 2>"$work/err"
check "a bad name is refused" sh -c "[ $? -eq 2 ] && grep -q 'not a sandbox name' '$work/err'"

# Boot 1: two creates of one name at once.
kb create --name "$sbx" --persistent --memory 256 >"$work/c1" 2>"$work/e1" &
p1=$!
kb create --name "$sbx" --persistent --memory 256 >"$work/c2" 2>"$work/e2" &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
echo "  creates: $r1 $r2"
sed 's/^/  create 1: /' "$work/e1"
sed 's/^/  create 2: /' "$work/e2"
check "two creates of one name: one wins, the other is told it exists" \
	sh -c "{ [ $r1 -eq 0 ] && [ $r2 -eq 1 ] && grep -q 'named $sbx exists' '$work/e2'; } ||
		{ [ $r2 -eq 0 ] && [ $r1 -eq 1 ] && grep -q 'named $sbx exists' '$work/e1'; }"
vmm=$(cat "$dir/pid" 2>/dev/null)
E2E_VMM_PID=$vmm
check "the state folder is under /tmp/kvmbox-UID, mode 0700" \
	sh -c "[ \"\$(stat -c %a '$root')\" = 700 ] && [ -S '$dir/control.sock' ] && [ -f '$dir/config.json' ]"
check "detached: create exited, its VMM runs in a session of its own" \
	sh -c "[ -n '$vmm' ] && kill -0 '$vmm' && [ \"$(field 4 "$vmm")\" != $$ ] && [ \"$(field 6 "$vmm")\" != \"$(field 6 $$)\" ]"
check "ls: running" ls_is running

kb exec "$sbx" -- sh -c 'echo kept >/persist.txt && sync && cat /persist.txt' >"$work/out" 2>"$work/err"
check "exec NAME writes to the persistent root" [ "$(cat "$work/out")" = kept ]
setsid "$kvmbox" exec "$sbx" -- cat /persist.txt >"$work/out" 2>"$work/err" </dev/null
check "exec NAME again from a new process (and session)" [ "$(cat "$work/out")" = kept ]
kb exec "$dir/control.sock" -- echo by-path >"$work/out" 2>"$work/err"
check "exec SOCKET still works" [ "$(cat "$work/out")" = by-path ]
kb status "$sbx" >"$work/out" 2>"$work/err"
check "status NAME" grep -q '"state": "running"' "$work/out"
echo hello-cp >"$work/f"
kb cp "$work/f" "$sbx:/tmp/f" >"$work/out" 2>"$work/err"
kb fs cat "$sbx" /tmp/f >"$work/out" 2>"$work/err"
check "cp and fs by NAME" [ "$(cat "$work/out")" = hello-cp ]
kb logs "$sbx" >"$work/out" 2>"$work/err"
check "logs NAME" [ $? -eq 0 ]
# logs -f: a line the guest writes to its console after it started, and
# it ends by itself once the sandbox stops (below).
timeout -k 5 300 "$kvmbox" logs -f "$sbx" >"$work/follow" 2>&1 &
follower=$!
sleep 1
kb exec "$sbx" -- sh -c 'echo follow-mark-1 >/dev/console' >/dev/null 2>&1
kb rm "$sbx" >"$work/out" 2>"$work/err"
check "rm refuses a running sandbox without -f" \
	sh -c "[ $? -eq 1 ] && grep -q 'is running' '$work/err' && [ -d '$dir' ]"

kb stop "$sbx" >"$work/out" 2>"$work/err"
rc=$?
! alive "$vmm"
gone=$?
check "stop NAME: 0, the VMM is gone, the state kept" \
	sh -c "[ $rc -eq 0 ] && [ $gone -eq 0 ] && [ -f '$dir/config.json' ]"
check "ls: stopped" ls_is stopped
wait "$follower"
rc=$?
check "logs -f printed what came after it started, and ended with the stop" \
	sh -c "[ $rc -eq 0 ] && grep -q follow-mark-1 '$work/follow'"

# Boot 2: start from the saved config; the file is still there.
kb start "$sbx" >"$work/out" 2>"$work/err"
rc=$?
sed 's/^/  start: /' "$work/err"
vmm=$(cat "$dir/pid" 2>/dev/null)
E2E_VMM_PID=$vmm
check "start NAME" [ $rc -eq 0 ]
check "ls: running again" ls_is running
kb exec "$sbx" -- cat /persist.txt >"$work/out" 2>"$work/err"
check "exec after start sees the persistent file" [ "$(cat "$work/out")" = kept ]

# kill -9 of the VMM: shown dead; rm (no -f needed) cleans it.
kill -9 "$vmm"
for _ in $(seq 1 100); do alive "$vmm" || break; sleep 0.1; done
E2E_VMM_PID=
check "ls: dead after kill -9 of the VMM" ls_is dead
kb rm "$sbx" >"$work/out" 2>"$work/err"
rc=$?
check "rm NAME cleans a dead sandbox" sh -c "[ $rc -eq 0 ] && [ ! -e '$dir' ]"
kb ls >"$work/ls" 2>&1
check "ls: gone" sh -c "! grep -q '^$sbx ' '$work/ls'"
e2e_summary
