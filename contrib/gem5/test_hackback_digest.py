"""Unit tests for hackback_digest (no gem5; hackbackfs only for FreshCopyTest).

Run from contrib/gem5:  python3 -m unittest -v
or from anywhere:       python3 -m unittest discover -s contrib/gem5 -v

Real xattrs are used where the temporary directory's file system supports
user.* xattrs (ext4, tmpfs since Linux 6.6, xfs, btrfs); elsewhere those tests
are skipped and the same code paths are covered through an injected reader.
"""

import errno
import io
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hackback_digest as hd  # noqa: E402

L1 = "a" * 64
L2 = "b" * 64
D1 = "1" * 64
D2 = "2" * 64


def fake_reader(table):
    """A getxattr stand-in: table maps (path, name) -> bytes or errno."""
    def getxattr(path, name):
        v = table.get((path, name), errno.ENODATA)
        if isinstance(v, int):
            raise OSError(v, os.strerror(v), path)
        return v
    return getxattr


def xattrs_work(directory):
    probe = os.path.join(directory, ".xattr-probe")
    open(probe, "w").close()
    try:
        os.setxattr(probe, "user.hackback.probe", b"1")
        return os.getxattr(probe, "user.hackback.probe") == b"1"
    except (OSError, AttributeError):
        return False
    finally:
        os.unlink(probe)


class Base(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name
        self.cpt = os.path.join(self.tmp, "cpt")
        os.mkdir(self.cpt)
        self.image = os.path.join(self.tmp, "hack-back")
        open(self.image, "wb").close()

    def tearDown(self):
        self._tmp.cleanup()


class RealXattrTest(Base):
    def setUp(self):
        super().setUp()
        if not xattrs_work(self.tmp):
            self.skipTest(f"no user.* xattrs on the file system of {self.tmp}")

    def set(self, layout, digest):
        os.setxattr(self.image, hd.LAYOUT_XATTR, layout.encode())
        os.setxattr(self.image, hd.DIGEST_XATTR, digest.encode())

    def test_read(self):
        self.set(L1, D1)
        self.assertEqual(hd.image_digests(self.image), {"layout": L1, "digest": D1})

    def test_read_tolerates_newline_nul_and_upper_case(self):
        os.setxattr(self.image, hd.LAYOUT_XATTR, (L1.upper() + "\n\0").encode())
        self.assertEqual(hd.read_xattr(self.image, hd.LAYOUT_XATTR), L1)

    def test_missing_xattr(self):
        with self.assertRaises(hd.DigestUnavailable) as cm:
            hd.read_xattr(self.image, hd.LAYOUT_XATTR)
        self.assertIn("user.hackback.layout", str(cm.exception))
        self.assertIn("hackbackfs", str(cm.exception))

    def test_store_then_check_roundtrip(self):
        self.set(L1, D1)
        self.assertEqual(hd.store(self.cpt, self.image), {"layout": L1, "digest": D1})
        stored, current, same = hd.check_restore(self.cpt, self.image)
        self.assertTrue(same)

    def test_other_restore_script_is_accepted(self):
        self.set(L1, D1)
        hd.store(self.cpt, self.image)
        self.set(L1, D2)
        _, _, same = hd.check_restore(self.cpt, self.image)
        self.assertFalse(same)

    def test_other_layout_is_refused(self):
        self.set(L1, D1)
        hd.store(self.cpt, self.image)
        self.set(L2, D1)
        with self.assertRaises(hd.LayoutMismatch) as cm:
            hd.check_restore(self.cpt, self.image)
        msg = str(cm.exception)
        self.assertIn("refusing to restore", msg)
        self.assertIn(L1, msg)
        self.assertIn(L2, msg)


class InjectedReaderTest(Base):
    def test_read(self):
        r = fake_reader({(self.image, hd.LAYOUT_XATTR): L1.encode(),
                         (self.image, hd.DIGEST_XATTR): D1.encode()})
        self.assertEqual(hd.image_digests(self.image, r), {"layout": L1, "digest": D1})

    def test_not_supported(self):
        r = fake_reader({(self.image, hd.LAYOUT_XATTR): errno.ENOTSUP})
        with self.assertRaisesRegex(hd.DigestUnavailable, "does not support extended"):
            hd.read_xattr(self.image, hd.LAYOUT_XATTR, r)

    def test_no_such_file(self):
        with self.assertRaisesRegex(hd.DigestUnavailable, "no such file"):
            hd.read_xattr(os.path.join(self.tmp, "nope"), hd.LAYOUT_XATTR)

    def test_garbage_value(self):
        r = fake_reader({(self.image, hd.LAYOUT_XATTR): b"not-a-digest"})
        with self.assertRaisesRegex(hd.DigestUnavailable, "not a hex SHA-256"):
            hd.read_xattr(self.image, hd.LAYOUT_XATTR, r)

    def test_store_writes_nothing_for_plain_file(self):
        with self.assertRaises(hd.DigestUnavailable):
            hd.store(self.cpt, self.image, fake_reader({}))
        self.assertEqual(os.listdir(self.cpt), [])

    def test_store_format_matches_hackbackfs_digests(self):
        r = fake_reader({(self.image, hd.LAYOUT_XATTR): L1.encode(),
                         (self.image, hd.DIGEST_XATTR): D1.encode()})
        hd.store(self.cpt, self.image, r)
        with open(hd.digests_path(self.cpt)) as f:
            lines = [x for x in f.read().splitlines() if not x.startswith("#")]
        self.assertEqual(lines, [f"layout {L1}", f"digest {D1}"])

    def test_layout_mismatch(self):
        with open(hd.digests_path(self.cpt), "w") as f:
            f.write(f"layout {L1}\ndigest {D1}\n")
        r = fake_reader({(self.image, hd.LAYOUT_XATTR): L2.encode(),
                         (self.image, hd.DIGEST_XATTR): D1.encode()})
        with self.assertRaises(hd.LayoutMismatch):
            hd.check_restore(self.cpt, self.image, r)

    def test_checkpoint_without_digests(self):
        r = fake_reader({(self.image, hd.LAYOUT_XATTR): L1.encode(),
                         (self.image, hd.DIGEST_XATTR): D1.encode()})
        with self.assertRaisesRegex(hd.DigestFileError, "is missing"):
            hd.check_restore(self.cpt, self.image, r)

    def test_store_into_missing_dir(self):
        r = fake_reader({(self.image, hd.LAYOUT_XATTR): L1.encode(),
                         (self.image, hd.DIGEST_XATTR): D1.encode()})
        with self.assertRaisesRegex(hd.DigestFileError, "not a checkpoint directory"):
            hd.store(os.path.join(self.tmp, "nope"), self.image, r)


class ParseTest(unittest.TestCase):
    def test_hackbackfs_digests_output(self):
        self.assertEqual(hd.parse_digests(f"layout {L1}\ndigest {D1}\n"),
                         {"layout": L1, "digest": D1})

    def test_comments_and_blank_lines(self):
        self.assertEqual(hd.parse_digests(f"# x\n\nlayout {L1.upper()}\n")["layout"], L1)

    def test_bad_line(self):
        with self.assertRaisesRegex(hd.DigestFileError, r"f:2: expected"):
            hd.parse_digests(f"layout {L1}\nbogus\n", "f")

    def test_bad_hex(self):
        with self.assertRaisesRegex(hd.DigestFileError, "not a hex"):
            hd.parse_digests("layout xyz\n")

    def test_no_layout(self):
        with self.assertRaisesRegex(hd.DigestFileError, "no 'layout' line"):
            hd.parse_digests(f"digest {D1}\n")


class MainTest(Base):
    def test_usage(self):
        err = io.StringIO()
        with redirect_stderr(err):
            self.assertEqual(hd.main([]), 2)

    def test_error_is_one_line_and_status_1(self):
        err = io.StringIO()
        with redirect_stderr(err), redirect_stdout(io.StringIO()):
            self.assertEqual(hd.main(["check", self.cpt, self.image]), 1)
        self.assertTrue(err.getvalue().startswith("hackback_digest: "))
        self.assertEqual(err.getvalue().count("\n"), 1)


class FreshCopyTest(unittest.TestCase):
    """The real program: a checkpoint taken with one overlay is accepted on
    an image built from a fresh copy of it (new mtimes, another path), and
    refused once a byte of the overlay changes.  Needs HACKBACKFS (the
    built program, set by tests/contrib-gem5.sh) and mke2fs."""

    def setUp(self):
        import shutil
        import subprocess
        self.hb = os.environ.get("HACKBACKFS")
        if not self.hb or not os.access(self.hb, os.X_OK):
            self.skipTest("HACKBACKFS (the built program) not given")
        if not shutil.which("mke2fs"):
            self.skipTest("mke2fs not found")
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.base = os.path.join(self.tmp, "base.img")
        with open(self.base, "wb") as f:
            f.truncate(16 << 20)
        subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", self.base], check=True)
        self.ov = os.path.join(self.tmp, "ov")
        os.makedirs(os.path.join(self.ov, "root"))
        with open(os.path.join(self.ov, "root", ".bashrc"), "w") as f:
            f.write("m5 checkpoint\n")
        os.utime(os.path.join(self.ov, "root", ".bashrc"), (1e9, 1e9))

    def digests(self, overlay):
        import subprocess
        out = subprocess.run([self.hb, "--digests", self.base, overlay], check=True,
                             capture_output=True, text=True).stdout
        return hd.parse_digests(out)

    def store_then_check(self, overlay):
        import shutil
        cpt = tempfile.mkdtemp(dir=self.tmp)
        with open(hd.digests_path(cpt), "w") as f:
            f.write(hd.format_digests(self.digests(self.ov)))
        now = self.digests(overlay)
        reader = fake_reader({("img", hd.LAYOUT_XATTR): now["layout"].encode(),
                              ("img", hd.DIGEST_XATTR): now["digest"].encode()})
        try:
            hd.check_restore(cpt, "img", reader)
        finally:
            shutil.rmtree(cpt)

    def test_fresh_copy_is_accepted(self):
        import shutil
        copy = os.path.join(self.tmp, "elsewhere", "ov")
        shutil.copytree(self.ov, copy)          # new mtimes, as cp -r
        os.utime(os.path.join(copy, "root", ".bashrc"))
        self.store_then_check(copy)

    def test_changed_copy_is_refused(self):
        import shutil
        copy = os.path.join(self.tmp, "changed")
        shutil.copytree(self.ov, copy)
        with open(os.path.join(copy, "root", ".bashrc"), "a") as f:
            f.write("echo changed\n")
        with self.assertRaises(hd.LayoutMismatch):
            self.store_then_check(copy)


if __name__ == "__main__":
    unittest.main()
