"""hack_back.py's board set-up on the gem5 stand-in, for each --board, without
booting anything: the disk wiring, root=, console, export-mode table, KVM
without perf, the switchable processor, readfile_contents. Run by
tests/contrib-gem5.sh:

    python3 -B tests/guest/gem5standin/selftest.py contrib/gem5
SPDX-License-Identifier: BSD-3-Clause
"""
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else "contrib/gem5"))
import m5  # noqa: E402
import hack_back  # noqa: E402

PARTUUID = "6861636b-6c6b-6165-6c69-6b6500000002"


class Boards(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        m5.options.outdir = self.tmp.name
        self.kernel = os.path.join(self.tmp.name, "vmlinux")
        self.disk = os.path.join(self.tmp.name, "disk.img")
        self.cow = os.path.join(self.tmp.name, "x.cow")
        for f in (self.kernel, self.disk, self.cow):
            open(f, "w").close()
        os.mkdir(os.path.join(self.tmp.name, "cpt"))

    def tearDown(self):
        self.tmp.cleanup()

    def board(self, *argv, root=PARTUUID, part=2):
        a = hack_back.parse_args(["--kernel", self.kernel] + list(argv))
        a.root_value = f"PARTUUID={root}" if root else None
        a.root_partition = part
        return hack_back.setup_board(a)

    def test_x86(self):
        b = self.board("--image", self.disk, "--cpu", "atomic", "--command", "echo hi")
        line = b.workload.command_line
        self.assertIn(f"root=PARTUUID={PARTUUID} ", line)
        self.assertIn("console=ttyS0", line)
        img = b.pc.south_bridge.ide.disks[0].image
        self.assertEqual(img.child.image_file, self.disk)
        self.assertFalse(img.image_file)
        with open(b.readfile) as f:
            self.assertEqual(f.read(), "echo hi")
        # gem5's own root= when there is no PARTUUID
        b = self.board("--image", self.disk, "--cpu", "atomic", root=None, part=2)
        self.assertIn("root=/dev/hda2 ", b.workload.command_line)

    def test_arm(self):
        b = self.board("--board", "arm", "--base", self.disk, "--cow", self.cow,
                       "--kvm-no-perf", "--switch-cpu", "timing")
        self.assertIn("console=ttyAMA0", b.workload.command_line)
        self.assertIn(f"root=PARTUUID={PARTUUID} ", b.workload.command_line)
        self.assertEqual(b._image.image_file, os.path.abspath(self.cow))
        self.assertTrue(b._image.read_only)
        self.assertEqual(b._image.child.image_file, self.disk)
        kvm = [c for c in b.get_processor()._all_cores() if c.is_kvm_core()]
        self.assertEqual(len(kvm), 1)
        self.assertFalse(kvm[0].core.usePerf)
        b = self.board("--board", "arm", "--image", self.disk, root=None, part=2)
        self.assertIn("root=/dev/vda2 ", b.workload.command_line)

    def test_riscv_restore_export(self):
        cpt = os.path.join(self.tmp.name, "cpt")
        b = self.board("--board", "riscv", "--cpu", "timing", "--base", self.disk,
                       "--cow", self.cow, "--restore", cpt)
        self.assertIn("console=ttyS0", b.workload.command_line)
        img = b.disk.vio.image
        self.assertFalse(img.image_file)         # no table loaded on a restore
        self.assertEqual(img.child.image_file, self.disk)
        self.assertEqual(str(b._checkpoint), cpt)

    def test_wrong_parameter_is_refused(self):
        from m5.objects import CowDiskImage
        with self.assertRaises(AttributeError):
            CowDiskImage(imagefile="x")
        from gem5.components.processors.simple_processor import SimpleProcessor
        with self.assertRaises(TypeError):
            SimpleProcessor(cpu_type=None, cores=1, isa=None)


if __name__ == "__main__":
    unittest.main()
