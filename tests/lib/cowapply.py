#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Read a COW disk file as gem5's CowDiskImage loads it (test helper).

Written from the format's description (README / hackbackfs(1)), not from
gem5's code:

    "COWDISK!"  u32 LE major (1)  u32 LE minor (0)  u64 LE N
    N records:  u64 LE sector number (512-byte sectors), 512 bytes of data
    then, from hackbackfs, an optional trailer (gem5 ignores it):
    "HBTRAIL1" u32 LE length (160) u32 LE flags u64 LE N u64 LE base size
    32-byte base fingerprint, overlay, layout and image digests

Usage:
    cowapply.py info FILE [BASE]   check the file; print N, the sector range
                                   and the trailer's digests; with BASE also
                                   check that every sector lies inside BASE
                                   and differs from BASE's bytes
    cowapply.py apply FILE IMAGE   write every record into IMAGE in place
                                   (IMAGE: a copy of BASE)

Checks on every use: magic and version, N records present, sector numbers
strictly ascending (so none repeats), and the trailer, if present, names
the same N.  Any problem: one line on stderr, exit 1.
"""

import struct
import sys

SECTOR = 512
HEADER = struct.Struct("<8sIIQ")
RECORD = 8 + SECTOR
TRAILER = struct.Struct("<8sIIQQ32s32s32s32s")


class Bad(Exception):
    pass


def records(f, n):
    """Yield (sector, data) for the n records after the header."""
    prev = None
    for i in range(n):
        rec = f.read(RECORD)
        if len(rec) != RECORD:
            raise Bad(f"premature end of file in record {i} of {n}")
        (sector,) = struct.unpack_from("<Q", rec)
        if prev is not None and sector == prev:
            raise Bad(f"record {i}: sector {sector} repeats")
        if prev is not None and sector < prev:
            raise Bad(f"record {i}: sector {sector} after {prev} (not ascending)")
        prev = sector
        yield sector, rec[8:]


def read_header(f):
    head = f.read(HEADER.size)
    if len(head) != HEADER.size:
        raise Bad("shorter than the header")
    magic, major, minor, n = HEADER.unpack(head)
    if magic != b"COWDISK!":
        raise Bad(f"bad magic {magic!r}")
    if (major, minor) != (1, 0):
        raise Bad(f"version {major}.{minor}, want 1.0")
    return n


def read_trailer(f, n):
    """The trailer after the records, or None when there is none."""
    rest = f.read()
    if not rest:
        return None
    if len(rest) != TRAILER.size:
        raise Bad(f"{len(rest)} bytes after the records, not a {TRAILER.size}-byte trailer")
    magic, length, flags, tn, base_size, fp, ov, layout, digest = TRAILER.unpack(rest)
    if magic != b"HBTRAIL1" or length != TRAILER.size:
        raise Bad(f"bad trailer magic {magic!r} or length {length}")
    if tn != n:
        raise Bad(f"trailer says {tn} records, header {n}")
    return {"flags": flags, "base_size": base_size, "base": fp.hex(),
            "overlay": ov.hex(), "layout": layout.hex(), "digest": digest.hex()}


def info(path, base_path=None):
    base = open(base_path, "rb") if base_path else None
    with open(path, "rb") as f:
        n = read_header(f)
        first = last = None
        for sector, data in records(f, n):
            first = sector if first is None else first
            last = sector
            if base:
                base.seek(sector * SECTOR)
                old = base.read(SECTOR)
                if len(old) != SECTOR:
                    raise Bad(f"sector {sector} lies beyond the end of {base_path}")
                if old == data:
                    raise Bad(f"sector {sector} holds the same bytes as {base_path}")
        trailer = read_trailer(f, n)
    print(f"sectors {n}")
    print(f"first {first if first is not None else '-'}")
    print(f"last {last if last is not None else '-'}")
    if trailer:
        for k in ("base", "overlay", "layout", "digest"):
            print(f"{k} {trailer[k]}")
        print(f"base_size {trailer['base_size']}")
        print(f"full_fingerprint {trailer['flags'] & 1}")
    else:
        print("trailer none")


def apply(path, image):
    with open(path, "rb") as f, open(image, "r+b") as out:
        size = out.seek(0, 2)
        n = read_header(f)
        for sector, data in records(f, n):
            if (sector + 1) * SECTOR > size:
                raise Bad(f"sector {sector} lies beyond the end of {image}")
            out.seek(sector * SECTOR)
            out.write(data)
        read_trailer(f, n)


def main(argv):
    try:
        if len(argv) in (2, 3) and argv[0] == "info":
            info(*argv[1:])
        elif len(argv) == 3 and argv[0] == "apply":
            apply(argv[1], argv[2])
        else:
            sys.stderr.write(__doc__.split("Usage:")[1].split("Checks")[0])
            return 2
    except Bad as e:
        sys.stderr.write(f"cowapply: {argv[1]}: {e}\n")
        return 1
    except OSError as e:
        sys.stderr.write(f"cowapply: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
