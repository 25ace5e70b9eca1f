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

Command line:
  python3 hackback_digest.py show IMAGE
  python3 hackback_digest.py store CHECKPOINT_DIR IMAGE
  python3 hackback_digest.py check CHECKPOINT_DIR IMAGE
"""

import errno
import os
import re
import sys

LAYOUT_XATTR = "user.hackback.layout"
DIGEST_XATTR = "user.hackback.digest"
DIGESTS_FILE = "hackback.digests"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class HackbackDigestError(Exception):
    """Base class; str() is a complete, user-facing message."""


class DigestUnavailable(HackbackDigestError):
    """The image does not carry the hackbackfs xattrs."""


class DigestFileError(HackbackDigestError):
    """The checkpoint's digest file is missing or malformed."""


class LayoutMismatch(HackbackDigestError):
    """Restoring this checkpoint onto this image would corrupt the guest."""


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
        if len(parts) != 2 or parts[0] not in ("layout", "digest", "base", "overlay"):
            raise DigestFileError(f"{source}:{n}: expected 'layout HEX' or "
                                  f"'digest HEX', got {line[:80]!r}")
        value = parts[1].lower()
        if not _HEX64.match(value):
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
    if not os.path.isdir(checkpoint_dir):
        raise DigestFileError(f"{checkpoint_dir}: not a checkpoint directory")
    path = digests_path(checkpoint_dir)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"# hackbackfs image: {os.path.abspath(image)}\n")
        f.write(format_digests(digests))
    os.replace(tmp, path)
    return digests


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
        else:
            sys.stderr.write(__doc__.split("Command line:")[1])
            return 2
    except HackbackDigestError as e:
        sys.stderr.write(f"hackback_digest: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
