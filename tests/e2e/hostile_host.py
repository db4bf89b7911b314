#!/usr/bin/env python3
"""hostile_host.py WORK: the host side of tests/e2e/hostile.sh that needs a
clock inside the conversation.

In the emulated test host, starting a program (kvmbox's client among them)
takes seconds, so the time a client command takes says little about the
VMM. This helper, started once before the VM, measures the VMM itself:

- a relay: kvmbox's client talks to WORK/p.sock, and each connection is
  passed on to the control socket WORK/c.sock byte for byte; the log
  (stdout) gets, per connection, the milliseconds from the request's first
  byte reaching the VMM to the reply's first byte coming back ("conn N
  reply_ms X"), and the time of that first request byte;
- the VMM's end: once WORK/go holds the VMM's pid, the moment the process
  ends (a pidfd), as "vmm_exit T" on the same clock (time.monotonic);
- a listener on WORK/v.sock_1234, the vsock port the hostile guest floods
  with connection requests: it accepts and holds every connection, so that
  the device reaches its connection limit with real host sockets.

The lines "conn N request_at T" and "vmm_exit T" let the script compute how
long after the stop request reached the VMM the VMM was gone.
"""
import os
import select
import socket
import sys
import threading
import time

work = sys.argv[1]
lock = threading.Lock()


def log(line):
    with lock:
        print(line, flush=True)


def hold_vsock_clients():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(os.path.join(work, "v.sock_1234"))
    s.listen(4096)
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)
        if len(held) in (1, 10, 100, 500, 1000):
            log(f"vsock_clients {len(held)}")


def pump(src, dst, on_first):
    first = True
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        if first:
            on_first()
            first = False
        try:
            dst.sendall(data)
        except OSError:
            return


def relay(n, client):
    vmm = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        vmm.connect(os.path.join(work, "c.sock"))
    except OSError as e:
        log(f"conn {n} connect_error {e}")
        client.close()
        return
    sent = []

    def request_sent():
        sent.append(time.monotonic())
        log(f"conn {n} request_at {sent[0]:.6f}")

    def reply_came():
        if sent:
            log(f"conn {n} reply_ms {(time.monotonic() - sent[0]) * 1000:.1f}")

    up = threading.Thread(target=pump, args=(client, vmm, request_sent), daemon=True)
    up.start()
    pump(vmm, client, reply_came)
    up.join(5)
    client.close()
    vmm.close()


def serve_relay():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(os.path.join(work, "p.sock"))
    s.listen(64)
    n = 0
    while True:
        c, _ = s.accept()
        n += 1
        threading.Thread(target=relay, args=(n, c), daemon=True).start()


def watch_vmm():
    go = os.path.join(work, "go")
    while not os.path.exists(go):
        time.sleep(0.05)
    time.sleep(0.05)
    with open(go) as f:
        pid = int(f.read().strip())
    try:
        fd = os.pidfd_open(pid)
    except OSError as e:
        log(f"vmm_watch_error {e}")
        return
    select.select([fd], [], [])
    log(f"vmm_exit {time.monotonic():.6f}")


threading.Thread(target=hold_vsock_clients, daemon=True).start()
threading.Thread(target=serve_relay, daemon=True).start()
threading.Thread(target=watch_vmm, daemon=True).start()
while not os.path.exists(os.path.join(work, "p.sock")):
    time.sleep(0.01)
log("ready")
while True:
    time.sleep(3600)
