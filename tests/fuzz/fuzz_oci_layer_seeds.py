#!/usr/bin/env python3
"""Write the seed corpus of fuzz_oci_layer (tests/fuzz/corpus/fuzz_oci_layer).

Small layers, each trimmed after its end-of-archive blocks: a pax layer with
every entry type, xattrs and a long name; the same through gzip and zstd; a
GNU tar with long names and links; whiteouts and an opaque folder; and the
escapes the unit tests try (a symlink used as a folder, a hard link out).

Usage: tests/fuzz/fuzz_oci_layer_seeds.py [DIR]   (needs the zstd program)
"""
import gzip
import io
import os
import subprocess
import sys
import tarfile

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_oci_layer")


def entry(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link="", **kw):
    t = tarfile.TarInfo(name)
    t.type, t.mode, t.linkname, t.mtime = kind, mode, link, 1700000000
    t.size = len(data) if kind == tarfile.REGTYPE else 0
    for k, v in kw.items():
        setattr(t, k, v)
    return t, data


def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for t, data in entries:
            tf.addfile(t, io.BytesIO(data) if data else None)
        end = tf.offset
    return buf.getvalue()[:end + 1024]  # the two zero blocks, no padding


BASIC = [
    entry("./", tarfile.DIRTYPE, mode=0o755),
    entry("./etc/", tarfile.DIRTYPE, mode=0o755),
    entry("./etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"),
    entry("./bin/busybox", data=b"\x7fELF", mode=0o4755),
    entry("./bin/sh", tarfile.SYMTYPE, link="busybox"),
    entry("./bin/ash", tarfile.LNKTYPE, link="./bin/busybox"),
    entry("./dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
    entry("./dev/sda", tarfile.BLKTYPE, mode=0o660, devmajor=8, devminor=0),
    entry("./run/fifo", tarfile.FIFOTYPE, mode=0o600),
    entry("./home/u/.profile", data=b"x", uid=1000, gid=1000,
          pax_headers={"SCHILY.xattr.user.k": "v",
                       "SCHILY.xattr.security.capability": "c",
                       "SCHILY.xattr.user.containers.override_stat": "0:0:04755:file"}),
    entry("./" + "long/" * 30 + "name", data=b"long"),
]

SEEDS = {
    "seed-basic.tar": tar(BASIC),
    "seed-gnu.tar": tar([
        entry("a/" + "b" * 150, data=b"gnu long name"),
        entry("a/c", tarfile.SYMTYPE, link="b" * 150),
        entry("a/d", tarfile.LNKTYPE, link="a/" + "b" * 150),
    ], fmt=tarfile.GNU_FORMAT),
    "seed-whiteouts.tar": tar([
        entry("etc/.wh.gone"),
        entry("usr/.wh..wh..opq"),
        entry("present", data=b"here"),
        entry(".wh.present"),
        entry(".wh..wh.plnk"),
        entry("dir/", tarfile.DIRTYPE, mode=0o700),
        entry("dir/", tarfile.DIRTYPE, mode=0o750),
        entry("dir", data=b"now a file"),
    ]),
    "seed-escape-symlink.tar": tar([
        entry("evil", tarfile.SYMTYPE, link=".."),
        entry("evil/x", data=b"owned"),
    ]),
    "seed-escape-hardlink.tar": tar([
        entry("ok", data=b"x"),
        entry("h", tarfile.LNKTYPE, link="../canary"),
    ]),
    "seed-dotdot.tar": tar([entry("a/../../x", data=b"owned")]),
}
SEEDS["seed-basic.tar.gz"] = gzip.compress(SEEDS["seed-basic.tar"], mtime=0)
SEEDS["seed-basic.tar.zst"] = subprocess.run(
    ["zstd", "-q", "-c", "-19"], input=SEEDS["seed-basic.tar"],
    stdout=subprocess.PIPE, check=True).stdout

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    print(f"{name}: {len(data)} bytes")
