# SPDX-License-Identifier: BSD-3-Clause
"""Tie gem5 checkpoints to the hackbackfs image they were taken on.

A gem5 checkpoint does not say which disk image it belongs to; restored onto
an image whose file system layout moved, the guest silently reads the wrong
blocks. hackbackfs publishes two SHA-256 digests as extended attributes of
MNT/hack-back:

  user.hackback.layout  identity of the file system layout: same value means
                        a checkpoint taken on one image may be restored on the
                        other (e.g. only the restore script differs);
  user.hackback.digest  identity of the exact image bytes.

This module reads them, stores them beside a checkpoint (file
``hackback.digests`` in the checkpoint directory, in the same
``layout HEX`` / ``digest HEX`` line format that ``hackbackfs --digests``
prints) and checks a restore against them. Plain Python, no gem5 needed.

The export mode (``hackbackfs --export-cow FILE``) has no mount and no
xattrs: gem5 reads BASE directly under a CowDiskImage loaded from FILE. The
identity then travels in FILE's trailer (after the N records, which gem5
ignores), and what must not change is BASE itself: ``base_fingerprint()``
computes the same fingerprint as hackbackfs (src/digest.c), ``check_base()``
compares it with FILE's, and ``store_cow()``/``check_restore_cow()`` keep
it beside a checkpoint (a checkpoint's .cow is only valid over that BASE).

Command line:
  python3 hackback_digest.py show IMAGE
  python3 hackback_digest.py store CHECKPOINT_DIR IMAGE
  python3 hackback_digest.py check CHECKPOINT_DIR IMAGE
  python3 hackback_digest.py fingerprint BASE [full]
  python3 hackback_digest.py show-cow FILE
  python3 hackback_digest.py check-base BASE FILE
"""

import errno
import hashlib
import os
import re
import struct
import sys

LAYOUT_XATTR = "user.hackback.layout"
DIGEST_XATTR = "user.hackback.digest"
DIGESTS_FILE = "hackback.digests"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Lines of hackback.digests: the mount's two, and the export mode's base
# fingerprint (with its kind) and overlay digest.
_DIGEST_KEYS = ("layout", "digest", "base", "overlay", "fingerprint")


class HackbackDigestError(Exception):
    """Base class; str() is a complete, user-facing message."""


class DigestUnavailable(HackbackDigestError):
    """The image does not carry the hackbackfs xattrs."""


class DigestFileError(HackbackDigestError):
    """The checkpoint's digest file is missing or malformed."""


class LayoutMismatch(HackbackDigestError):
    """Restoring this checkpoint onto this image would corrupt the guest."""


class CowFileError(HackbackDigestError):
    """The file is not a COW file written by hackbackfs --export-cow."""


class BaseMismatch(HackbackDigestError):
    """BASE is not the image the COW file or checkpoint was made over."""


def read_xattr(path, name, getxattr=os.getxattr):
    """Return the xattr NAME of PATH as a lower-case 64-digit hex string.

    GETXATTR is injectable for tests (signature of os.getxattr).
    """
    try:
        raw = getxattr(path, name)
    except FileNotFoundError:
        raise DigestUnavailable(f"{path}: no such file") from None
    except OSError as e:
        if e.errno == errno.ENODATA:
            raise DigestUnavailable(
                f"{path} has no {name} extended attribute: is it MNT/hack-back "
                f"of a running hackbackfs mount?") from None
        if e.errno in (errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)):
            raise DigestUnavailable(
                f"{path}: its file system does not support extended attributes, "
                f"so it cannot be a hackbackfs image") from None
        raise DigestUnavailable(f"{path}: cannot read {name}: {e.strerror}") from None
    text = raw.decode("ascii", "replace").strip().strip("\0").strip().lower()
    if not _HEX64.match(text):
        raise DigestUnavailable(
            f"{path}: {name} is not a hex SHA-256 digest: {text[:80]!r}")
    return text


def image_digests(image, getxattr=os.getxattr):
    """Return {"layout": HEX, "digest": HEX} for a hackbackfs image."""
    return {
        "layout": read_xattr(image, LAYOUT_XATTR, getxattr),
        "digest": read_xattr(image, DIGEST_XATTR, getxattr),
    }


def format_digests(digests):
    return f"layout {digests['layout']}\ndigest {digests['digest']}\n"


def parse_digests(text, source="<digests>"):
    """Parse ``layout HEX`` / ``digest HEX`` lines (hackbackfs --digests).

    The ``base HEX`` and ``overlay HEX`` lines that --digests prints too are
    accepted and returned as well, so its whole output can be stored.
    """
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in _DIGEST_KEYS:
            raise DigestFileError(f"{source}:{n}: expected 'layout HEX' or "
                                  f"'digest HEX', got {line[:80]!r}")
        value = parts[1].lower()
        if parts[0] == "fingerprint":
            if value not in ("sampled", "full"):
                raise DigestFileError(f"{source}:{n}: fingerprint is 'sampled' or "
                                      f"'full', not {parts[1][:80]!r}")
        elif not _HEX64.match(value):
            raise DigestFileError(f"{source}:{n}: {parts[0]} is not a hex "
                                  f"SHA-256 digest: {parts[1][:80]!r}")
        out[parts[0]] = value
    if "layout" not in out:
        raise DigestFileError(f"{source}: no 'layout' line")
    return out


def digests_path(checkpoint_dir):
    return os.path.join(checkpoint_dir, DIGESTS_FILE)


def store(checkpoint_dir, image, getxattr=os.getxattr):
    """Write IMAGE's digests into CHECKPOINT_DIR; return them.

    Read the xattrs before writing anything, so a non-hackbackfs image leaves
    no half-written file behind.
    """
    digests = image_digests(image, getxattr)
    _write_digests(checkpoint_dir, f"hackbackfs image: {os.path.abspath(image)}",
                   format_digests(digests))
    return digests


def _write_digests(checkpoint_dir, comment, text):
    """hackback.digests in CHECKPOINT_DIR: a comment line, then TEXT."""
    if not os.path.isdir(checkpoint_dir):
        raise DigestFileError(f"{checkpoint_dir}: not a checkpoint directory")
    path = digests_path(checkpoint_dir)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"# {comment}\n{text}")
    os.replace(tmp, path)


def load(checkpoint_dir):
    """Return the digests stored in CHECKPOINT_DIR."""
    path = digests_path(checkpoint_dir)
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        raise DigestFileError(
            f"{path} is missing: this checkpoint was not taken through the "
            f"hack-back run script, so nothing says which image it belongs "
            f"to") from None
    except OSError as e:
        raise DigestFileError(f"{path}: {e.strerror}") from None
    return parse_digests(text, path)


def check_restore(checkpoint_dir, image, getxattr=os.getxattr):
    """Raise LayoutMismatch unless IMAGE's layout is the checkpoint's.

    The byte digest may differ (that is the point: another restore script in
    the layout-stable slot); it is returned for reporting as
    (stored, current, same_bytes).
    """
    stored = load(checkpoint_dir)
    current = image_digests(image, getxattr)
    if stored["layout"] != current["layout"]:
        raise LayoutMismatch(
            f"refusing to restore {checkpoint_dir} onto {image}: the image's "
            f"file system layout differs from the one the checkpoint was taken "
            f"on (user.hackback.layout {current['layout']} != stored "
            f"{stored['layout']}); the restored guest would read wrong blocks. "
            f"Mount the same BASE with the same overlay and options (only "
            f"restore= may change), or take a new checkpoint.")
    same = stored.get("digest") == current["digest"]
    return stored, current, same


# ---- the export mode ---------------------------------------------------------

# The fingerprint of a base image, as src/digest.c computes it: SHA-256 over
# a version string and the size, then (offset, length, bytes) of the first
# 4 MiB, the last 1 MiB and 256 evenly spaced 4 KiB samples; or, in the full
# mode, the size and all the bytes.  Integers are 8 bytes little-endian, a
# string is its length then its bytes.
FP_HEAD = 4 << 20
FP_TAIL = 1 << 20
FP_SAMPLES = 256
FP_SAMPLE_LEN = 4096

COW_MAGIC = b"COWDISK!"
COW_HEADER = struct.Struct("<8sIIQ")
COW_RECORD = 8 + 512
TRAILER = struct.Struct("<8sIIQQ32s32s32s32s")
TRAILER_MAGIC = b"HBTRAIL1"


def _u64(v):
    return struct.pack("<Q", v)


def _str(s):
    b = s.encode()
    return _u64(len(b)) + b


def base_fingerprint(path, full=False):
    """The hex fingerprint hackbackfs computes for the base image PATH."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size

            def feed(off, length):
                f.seek(off)
                while length > 0:
                    chunk = f.read(min(length, 1 << 20))
                    if not chunk:
                        raise BaseMismatch(f"{path}: shorter than its size while hashing")
                    h.update(chunk)
                    length -= len(chunk)

            if full:
                h.update(_str("hackbackfs base fingerprint v1: full") + _u64(size))
                feed(0, size)
                return h.hexdigest()
            h.update(_str("hackbackfs base fingerprint v1: sampled") + _u64(size))
            head, tail = min(size, FP_HEAD), min(size, FP_TAIL)
            slen = min(size, FP_SAMPLE_LEN)
            regions = [(0, head), (size - tail, tail)]
            regions += [((size - slen) * i // (FP_SAMPLES - 1), slen) for i in range(FP_SAMPLES)]
            for off, length in regions:
                h.update(_u64(off) + _u64(length))
                feed(off, length)
    except OSError as e:
        raise BaseMismatch(f"base image {path}: {e.strerror}") from None
    return h.hexdigest()


def read_cow_identity(cow):
    """The identity in the trailer of a COW file from hackbackfs --export-cow.

    Returns {"sectors", "base_size", "fingerprint" ("sampled" or "full"),
    "base", "overlay", "layout", "digest"}.
    """
    try:
        with open(cow, "rb") as f:
            head = f.read(COW_HEADER.size)
            if len(head) != COW_HEADER.size:
                raise CowFileError(f"{cow}: too short for a COW disk file")
            magic, major, minor, n = COW_HEADER.unpack(head)
            if magic != COW_MAGIC or (major, minor) != (1, 0):
                raise CowFileError(f"{cow}: not a gem5 COW disk file (version 1.0)")
            f.seek(COW_HEADER.size + n * COW_RECORD)
            tail = f.read(TRAILER.size + 1)
    except OSError as e:
        raise CowFileError(f"{cow}: {e.strerror}") from None
    if len(tail) != TRAILER.size:
        raise CowFileError(f"{cow}: no hackbackfs trailer after its {n} records "
                           f"(not written by hackbackfs --export-cow, or cut short)")
    magic, length, flags, tn, size, fp, ov, layout, digest = TRAILER.unpack(tail)
    if magic != TRAILER_MAGIC or length != TRAILER.size or tn != n:
        raise CowFileError(f"{cow}: bad hackbackfs trailer")
    return {"sectors": n, "base_size": size,
            "fingerprint": "full" if flags & 1 else "sampled",
            "base": fp.hex(), "overlay": ov.hex(), "layout": layout.hex(),
            "digest": digest.hex()}


def check_base(base, identity, source="the COW file"):
    """Raise BaseMismatch unless BASE is the image IDENTITY was made over."""
    try:
        size = os.stat(base).st_size
    except OSError as e:
        raise BaseMismatch(f"base image {base}: {e.strerror}") from None
    if "base_size" in identity and size != identity["base_size"]:
        raise BaseMismatch(
            f"base image {base} is {size} bytes, {source} was made over one of "
            f"{identity['base_size']} bytes: gem5 would read wrong sectors")
    fp = base_fingerprint(base, identity.get("fingerprint") == "full")
    if fp != identity["base"]:
        raise BaseMismatch(
            f"base image {base} is not the one {source} was made over "
            f"(fingerprint {fp} != {identity['base']}): gem5 would mix its "
            f"sectors with another image's. Use that BASE, or export again.")
    return fp


def store_cow(checkpoint_dir, base, identity):
    """Write the export mode's identity into CHECKPOINT_DIR."""
    _write_digests(checkpoint_dir,
                   f"hackbackfs --export-cow over base image: {os.path.abspath(base)}",
                   format_digests(identity) +
                   "".join(f"{k} {identity[k]}\n" for k in ("overlay", "base", "fingerprint")))


def check_restore_cow(checkpoint_dir, base):
    """Raise BaseMismatch unless BASE is the one the checkpoint was taken over.

    The checkpoint's .cow table replaces gem5's at restore: it holds the
    whole delta, so BASE is all it needs, and only that BASE will do.
    """
    stored = load(checkpoint_dir)
    if "base" not in stored:
        raise DigestFileError(
            f"{digests_path(checkpoint_dir)} has no base fingerprint: the checkpoint "
            f"was taken on a mounted image (--image), not over --base/--cow")
    stored.setdefault("fingerprint", "sampled")
    check_base(base, stored, f"the checkpoint {checkpoint_dir}")
    return stored


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        if len(argv) == 2 and argv[0] == "show":
            sys.stdout.write(format_digests(image_digests(argv[1])))
        elif len(argv) == 3 and argv[0] == "store":
            store(argv[1], argv[2])
        elif len(argv) == 3 and argv[0] == "check":
            _, _, same = check_restore(argv[1], argv[2])
            print("layout matches" + ("" if same else
                                       " (image bytes differ: another restore script?)"))
        elif len(argv) in (2, 3) and argv[0] == "fingerprint" and argv[2:] in ([], ["full"]):
            print(base_fingerprint(argv[1], argv[2:] == ["full"]))
        elif len(argv) == 2 and argv[0] == "show-cow":
            ident = read_cow_identity(argv[1])
            for k in ("sectors", "base_size", "fingerprint", "base", "overlay", "layout", "digest"):
                print(f"{k} {ident[k]}")
        elif len(argv) == 3 and argv[0] == "check-base":
            check_base(argv[1], read_cow_identity(argv[2]))
            print("base matches")
        else:
            sys.stderr.write(__doc__.split("Command line:")[1])
            return 2
    except HackbackDigestError as e:
        sys.stderr.write(f"hackback_digest: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
