# SPDX-License-Identifier: BSD-3-Clause
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
import shutil
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
    built program, set by tests/guest/contrib-gem5.sh) and mke2fs."""

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


# ---- export mode -------------------------------------------------------------

# Known answers computed by hackbackfs's own src/digest.c
# (digest_base_fingerprint) for pattern files of these sizes: byte o is
# (7 o + o // 4096) mod 256.  Sampled, then full.
FINGERPRINTS = {
    0: ("9fc338e640aca758ee2cf09014bc06e26b07bf74a40d140cac2dbb4273253d87",
        "fc1e152ce85d4e20baa9d3f93d5e3c7d0874ac255cb56a277565dd58a7a5a4dd"),
    3000: ("359384ba0525a72b48a1d6aa5cf5cb130ad79e6d89e75f69a53675562022aa1a",
           "25013bc6add434e9fb27e8f51f5b9cf500e9194d4ed81d3055bfa0c6e3f15dcd"),
    6292456: ("184b4b8713e704a0e23fec8e48a456a448566e7351ea56d06714a89ffd0cec43",
              "e9485542ca196089906d9de40359a0cf07f6fd156ccdf226061ffd71f57d1efc"),
}


def pattern(size):
    return bytes(((o * 7 + (o >> 12)) & 0xFF) for o in range(size))


def write_cow(path, records, ident, trailer=True):
    """A COW file as hackbackfs --export-cow writes it."""
    import struct
    with open(path, "wb") as f:
        f.write(b"COWDISK!" + struct.pack("<IIQ", 1, 0, len(records)))
        for sector, data in records:
            f.write(struct.pack("<Q", sector) + data)
        if trailer:
            f.write(b"HBTRAIL1" + struct.pack("<IIQQ", 160, 1 if ident["fingerprint"] == "full" else 0,
                                               len(records), ident["base_size"]))
            for k in ("base", "overlay", "layout", "digest"):
                f.write(bytes.fromhex(ident[k]))


class FingerprintTest(Base):
    def test_known_answers_from_src_digest_c(self):
        for size, (sampled, full) in FINGERPRINTS.items():
            path = os.path.join(self.tmp, f"p{size}")
            with open(path, "wb") as f:
                f.write(pattern(size))
            self.assertEqual(hd.base_fingerprint(path), sampled, size)
            self.assertEqual(hd.base_fingerprint(path, full=True), full, size)

    def test_sampled_sees_the_head_and_the_tail(self):
        path = os.path.join(self.tmp, "b")
        data = bytearray(pattern(6292456))
        with open(path, "wb") as f:
            f.write(data)
        ref = hd.base_fingerprint(path)
        for off in (0, 4 * 1048576 - 1, len(data) - 1):
            changed = bytearray(data)
            changed[off] ^= 1
            with open(path, "wb") as f:
                f.write(changed)
            self.assertNotEqual(hd.base_fingerprint(path), ref, off)

    def test_missing_base(self):
        with self.assertRaisesRegex(hd.BaseMismatch, "No such file"):
            hd.base_fingerprint(os.path.join(self.tmp, "nope"))


class CowFixture(Base):
    """BASE (a 3000-byte pattern file) and a COW file made over it."""

    def setUp(self):
        super().setUp()
        self.base = os.path.join(self.tmp, "base.img")
        with open(self.base, "wb") as f:
            f.write(pattern(3000))
        self.ident = {"base_size": 3000, "fingerprint": "sampled",
                      "base": FINGERPRINTS[3000][0], "overlay": "c" * 64,
                      "layout": L1, "digest": D1}
        self.cow = os.path.join(self.tmp, "x.cow")
        write_cow(self.cow, [(1, b"\1" * 512), (4, b"\2" * 512)], self.ident)


class CowTest(CowFixture):
    def test_read_identity(self):
        got = hd.read_cow_identity(self.cow)
        self.assertEqual(got["sectors"], 2)
        for k, v in self.ident.items():
            self.assertEqual(got[k], v, k)

    def test_no_trailer(self):
        write_cow(self.cow, [(1, b"\1" * 512)], self.ident, trailer=False)
        with self.assertRaisesRegex(hd.CowFileError, "no hackbackfs trailer"):
            hd.read_cow_identity(self.cow)

    def test_not_a_cow_file(self):
        with self.assertRaisesRegex(hd.CowFileError, "not a gem5 COW disk file"):
            hd.read_cow_identity(self.base)

    def test_cut_short(self):
        with open(self.cow, "r+b") as f:
            f.truncate(24 + 520)
        with self.assertRaisesRegex(hd.CowFileError, "no hackbackfs trailer"):
            hd.read_cow_identity(self.cow)

    def test_base_matches(self):
        self.assertEqual(hd.check_base(self.base, hd.read_cow_identity(self.cow)),
                         FINGERPRINTS[3000][0])

    def test_other_base_is_refused(self):
        with open(self.base, "r+b") as f:
            f.write(b"X")
        with self.assertRaises(hd.BaseMismatch) as cm:
            hd.check_base(self.base, hd.read_cow_identity(self.cow))
        self.assertIn("not the one", str(cm.exception))
        self.assertIn(FINGERPRINTS[3000][0], str(cm.exception))

    def test_other_size_is_refused(self):
        with open(self.base, "ab") as f:
            f.write(b"more")
        with self.assertRaisesRegex(hd.BaseMismatch, "3004 bytes"):
            hd.check_base(self.base, hd.read_cow_identity(self.cow))

    def test_full_fingerprint(self):
        ident = dict(self.ident, fingerprint="full", base=FINGERPRINTS[3000][1])
        write_cow(self.cow, [], ident)
        hd.check_base(self.base, hd.read_cow_identity(self.cow))

    def test_store_then_check_restore(self):
        hd.store_cow(self.cpt, self.base, hd.read_cow_identity(self.cow))
        stored = hd.check_restore_cow(self.cpt, self.base)
        self.assertEqual(stored["base"], FINGERPRINTS[3000][0])
        self.assertEqual(stored["layout"], L1)
        with open(self.base, "r+b") as f:
            f.seek(2999)
            f.write(b"X")
        with self.assertRaises(hd.BaseMismatch):
            hd.check_restore_cow(self.cpt, self.base)

    def test_restore_of_a_mount_checkpoint(self):
        with open(hd.digests_path(self.cpt), "w") as f:
            f.write(f"layout {L1}\ndigest {D1}\n")
        with self.assertRaisesRegex(hd.DigestFileError, "no base fingerprint"):
            hd.check_restore_cow(self.cpt, self.base)

    def test_bad_fingerprint_kind(self):
        with self.assertRaisesRegex(hd.DigestFileError, "sampled"):
            hd.parse_digests(f"layout {L1}\nfingerprint partial\n")

    def test_cli(self):
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(hd.main(["check-base", self.base, self.cow]), 0)
            self.assertEqual(hd.main(["fingerprint", self.base]), 0)
        self.assertEqual(out.getvalue(), f"base matches\n{FINGERPRINTS[3000][0]}\n")
        err = io.StringIO()
        with redirect_stderr(err), redirect_stdout(io.StringIO()):
            self.assertEqual(hd.main(["check-base", self.cow, self.cow]), 1)
        self.assertEqual(err.getvalue().count("\n"), 1)


class HackBackArgsTest(CowFixture):
    """The run script's export-mode arguments and checks (no gem5 imported)."""

    def setUp(self):
        super().setUp()
        import hack_back
        self.hb = hack_back

    def parse_fails(self, argv, text):
        err = io.StringIO()
        with redirect_stderr(err), self.assertRaises(SystemExit) as cm:
            self.hb.parse_args(argv)
        self.assertEqual(cm.exception.code, 2)
        self.assertIn(text, err.getvalue())

    def test_arguments(self):
        k = ["--kernel", "vmlinux"]
        a = self.hb.parse_args(k + ["--base", self.base, "--cow", self.cow])
        self.assertEqual((a.base, a.cow, a.image), (self.base, self.cow, None))
        a = self.hb.parse_args(k + ["--base", self.base, "--restore", self.cpt])
        self.assertIsNone(a.cow)
        self.assertEqual(self.hb.parse_args(k + ["--image", self.image]).image, self.image)
        self.parse_fails(k + ["--image", self.image, "--base", self.base], "not allowed with")
        self.parse_fails(k, "one of the arguments --image --base is required")
        self.parse_fails(k + ["--image", self.image, "--cow", self.cow], "--cow goes with --base")
        self.parse_fails(k + ["--base", self.base], "--base needs --cow")

    def preflight(self, argv):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                ret = self.hb.preflight(self.hb.parse_args(["--kernel", "k"] + argv))
            except SystemExit as e:
                return e.code, err.getvalue()
        return ret, out.getvalue()

    def test_preflight_checks_base_before_simulating(self):
        ident, out = self.preflight(["--base", self.base, "--cow", self.cow])
        self.assertEqual(ident["layout"], L1)
        self.assertIn("2 sectors", out)
        with open(self.base, "r+b") as f:
            f.write(b"X")
        code, err = self.preflight(["--base", self.base, "--cow", self.cow])
        self.assertEqual(code, 2)
        self.assertIn("is not the one", err)

    def test_preflight_restore_checks_base_again(self):
        hd.store_cow(self.cpt, self.base, hd.read_cow_identity(self.cow))
        ident, out = self.preflight(["--base", self.base, "--restore", self.cpt])
        self.assertEqual(ident["base"], FINGERPRINTS[3000][0])
        self.assertIn("base matches the checkpoint", out)
        with open(self.base, "r+b") as f:
            f.write(b"X")
        code, err = self.preflight(["--base", self.base, "--restore", self.cpt])
        self.assertEqual(code, 2)
        self.assertIn("not the one the checkpoint", err)

    def test_use_cow_table(self):
        from types import SimpleNamespace as NS
        image = NS(image_file="", read_only=False, child=NS(image_file=self.base, read_only=True))
        board = NS(pc=NS(south_bridge=NS(ide=NS(disks=[NS(image=image)]))))
        self.hb.use_cow_table(board, self.cow)
        self.assertEqual(image.image_file, os.path.abspath(self.cow))
        self.assertTrue(image.read_only)
        self.assertTrue(image.child.read_only)
        self.assertEqual(image.child.image_file, self.base)

    def test_use_cow_table_other_boards_and_restore(self):
        from types import SimpleNamespace as NS

        def cow():
            return NS(image_file="", read_only=False, child=NS(image_file=self.base,
                                                                read_only=True))
        arm = NS(_image=cow())
        self.hb.use_cow_table(arm, self.cow)
        self.assertEqual(arm._image.image_file, os.path.abspath(self.cow))
        riscv = NS(disk=NS(vio=NS(image=cow())))
        self.hb.use_cow_table(riscv, None)          # a restore: no table loaded
        self.assertEqual(riscv.disk.vio.image.image_file, "")
        self.assertTrue(riscv.disk.vio.image.read_only)


class HackBackRootMachineTest(unittest.TestCase):
    """Root device choice and the machine record (no gem5 imported)."""

    def setUp(self):
        import hack_back
        self.hb = hack_back
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def args(self, *argv):
        return self.hb.parse_args(["--kernel", "k", "--image", "i"] + list(argv))

    def test_root_from_manifest(self):
        gpt = {"partition": {"number": 2, "table": "gpt",
                             "partuuid": "0d1c4b7e-2a9f-4c3b-8e6d-5f4a3b2c1d0e"}}
        self.assertEqual(self.hb.choose_root(self.args(), gpt)[:2],
                         ("PARTUUID=0d1c4b7e-2a9f-4c3b-8e6d-5f4a3b2c1d0e", 2))
        self.assertEqual(self.hb.choose_root(self.args("--root", "/dev/sda2"), gpt)[:2],
                         ("/dev/sda2", None))
        bare = {"partition": {"number": 0, "table": "", "partuuid": None}}
        self.assertEqual(self.hb.choose_root(self.args(), bare)[:2], (None, None))
        self.assertEqual(self.hb.choose_root(self.args(), None)[:2], (None, 1))
        self.assertEqual(self.hb.choose_root(self.args(), None, {"root": "PARTUUID=x"})[:2],
                         ("PARTUUID=x", None))

    def test_options(self):
        a = self.args("--board", "arm", "--switch-cpu", "timing", "--kvm-no-perf",
                      "--command", "echo hi", "--mem", "512MiB", "--cores", "4")
        self.assertEqual((a.board, a.switch_cpu, a.mem_bytes, a.command),
                         ("arm", "timing", 512 << 20, "echo hi"))
        for bad, text in ((["--board", "riscv"], "no KVM"),
                          (["--cpu", "atomic", "--kvm-no-perf"], "needs a KVM"),
                          (["--mem", "lots"], "want a size"),
                          (["--readfile", "f", "--command", "c"], "not allowed with")):
            err = io.StringIO()
            with redirect_stderr(err), self.assertRaises(SystemExit):
                self.args(*bad)
            self.assertIn(text, err.getvalue())

    def test_machine_check(self):
        a = self.args("--cores", "2", "--mem", "1GiB")
        rec = self.hb.machine_record(a, "PARTUUID=x")
        self.hb.store_machine(self.tmp, rec)
        self.assertEqual(self.hb.load_machine(self.tmp), rec)
        b = self.args("--cores", "4", "--mem", "2GiB", "--switch-cpu", "o3",
                      "--restore", self.tmp)
        err = io.StringIO()
        with redirect_stderr(err), self.assertRaises(SystemExit) as cm:
            self.hb.check_machine(b, rec, self.hb.machine_record(b, None))
        self.assertEqual(cm.exception.code, 2)
        msg = err.getvalue()
        self.assertEqual(msg.count("\n"), 1)
        for text in ("cores 2 at the checkpoint, 4 now", "memory bytes 1073741824",
                     "processor class SimpleProcessor"):
            self.assertIn(text, msg)
        c = self.args("--cores", "2", "--mem", "1GiB", "--cpu", "timing", "--restore", self.tmp)
        with redirect_stdout(io.StringIO()):
            self.hb.check_machine(c, rec, self.hb.machine_record(c, None))

    def test_exit_status(self):
        self.assertEqual([self.hb.exit_status(c) for c in (3, 0, 256, None, 255)],
                         [3, 1, 1, 1, 255])


if __name__ == "__main__":
    unittest.main()
