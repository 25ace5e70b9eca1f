# SPDX-License-Identifier: BSD-3-Clause
"""hack_back.py on the gem5 stand-in without booting anything: the board
set-up for each --board (the disk wiring, root=, console, export-mode table
at a checkpoint and none on a restore, KVM without perf, the switchable
processor, readfile_contents), that wrong keywords are refused as gem5
refuses them, and its exit handling against scripted exits (boot markers,
checkpoint, failure status, --switch-cpu switching once at workbegin, a
gem5-version mismatch warned about; posing as v25, the hypercalls through
v25's exit handlers, with and without register_exit_handler). Run by
tests/guest/contrib-gem5.sh once per API the stand-in presents:

    python3 -B tests/guest/gem5standin/selftest.py contrib/gem5
    HACKBACK_STANDIN_API=v25 python3 -B tests/guest/gem5standin/selftest.py contrib/gem5
"""
import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else "contrib/gem5"))
import m5  # noqa: E402
import hack_back  # noqa: E402
from _standin.api import v25  # noqa: E402
from _standin.machine import ExitEvent as Exit  # noqa: E402

if v25():
    from gem5.simulate.exit_handler import ExitHandler
    DEFAULT_HANDLERS = dict(ExitHandler.get_handler_map())

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

    def test_riscv_checkpoint_cow(self):
        # Export mode at the checkpoint: the table is loaded into RiscvBoard's
        # disk (board.disk.vio.image), read-only so that gem5 never writes it
        # back, over the read-only base.
        from m5.objects import CowDiskImage, RawDiskImage
        b = self.board("--board", "riscv", "--cpu", "atomic", "--base", self.disk,
                       "--cow", self.cow)
        img = b.disk.vio.image
        self.assertIs(hack_back.board_disk_image(b), img)
        self.assertIsInstance(img, CowDiskImage)
        self.assertIsInstance(img.child, RawDiskImage)
        self.assertEqual(img.image_file, os.path.abspath(self.cow))
        self.assertIs(img.read_only, True)
        self.assertIs(img.child.read_only, True)
        self.assertEqual(img.child.image_file, self.disk)
        self.assertIsNone(b._checkpoint)
        self.assertIn(f"root=PARTUUID={PARTUUID} ", b.workload.command_line)

    def test_arm_restore_no_double_table(self):
        # Export mode on a restore: the checkpoint's table is the disk, so
        # ArmBoard's CowDiskImage gets no image_file (gem5 would load it in
        # the constructor, then unserialize the checkpoint's over it and leak
        # the first), with --cow given again or not.
        cpt = os.path.join(self.tmp.name, "cpt")
        for cow in (["--cow", self.cow], []):
            b = self.board("--board", "arm", "--cpu", "atomic", "--base", self.disk,
                           *cow, "--restore", cpt)
            img = b._image
            self.assertIs(hack_back.board_disk_image(b), img)
            self.assertFalse(img.image_file, f"table loaded on a restore ({cow})")
            self.assertIs(img.read_only, True)
            self.assertIs(img.child.read_only, True)
            self.assertEqual(img.child.image_file, self.disk)
            self.assertEqual(str(b._checkpoint), cpt)
            self.assertEqual([d.vio.image for d in b._pci_devices], [img])

    def test_wrong_parameter_is_refused(self):
        from m5.objects import CowDiskImage
        with self.assertRaises(AttributeError):
            CowDiskImage(imagefile="x")
        from gem5.components.processors.simple_processor import SimpleProcessor
        with self.assertRaises(TypeError):
            SimpleProcessor(cpu_type=None, cores=1, isa=None)

    def test_wrong_keywords(self):
        from gem5.components.boards.arm_board import ArmBoard
        from gem5.components.boards.riscv_board import RiscvBoard
        from gem5.components.cachehierarchies.classic.private_l1_private_l2_cache_hierarchy \
            import PrivateL1PrivateL2CacheHierarchy
        from gem5.components.memory.single_channel import SingleChannelDDR3_1600
        from gem5.components.processors.cpu_types import CPUTypes
        from gem5.components.processors.simple_processor import SimpleProcessor
        from gem5.isas import ISA
        from m5.objects import VExpress_GEM5_Foundation, VirtIOBlock

        def parts(isa):
            return dict(clk_freq="3GHz",
                        processor=SimpleProcessor(cpu_type=CPUTypes.ATOMIC, num_cores=1, isa=isa),
                        memory=SingleChannelDDR3_1600(size="1GiB"),
                        cache_hierarchy=PrivateL1PrivateL2CacheHierarchy(
                            l1d_size="32KiB", l1i_size="32KiB", l2_size="512KiB"))
        # The stdlib boards are Python classes: a misspelt or foreign
        # keyword is a TypeError; the same call spelt right builds the board.
        ArmBoard(platform=VExpress_GEM5_Foundation(), **parts(ISA.ARM))
        with self.assertRaisesRegex(TypeError, "platfrom"):
            ArmBoard(platfrom=VExpress_GEM5_Foundation(), **parts(ISA.ARM))
        RiscvBoard(**parts(ISA.RISCV))
        with self.assertRaisesRegex(TypeError, "release"):
            RiscvBoard(release=None, **parts(ISA.RISCV))   # ArmBoard's, not RiscvBoard's
        # VirtIOBlock is a SimObject: in gem5 v24.0 its constructor sets each
        # keyword with setattr, and SimObject.__setattr__ raises
        # AttributeError("Class VirtIOBlock has no parameter imag") for a name
        # that is no parameter (src/python/m5/SimObject.py) -- not TypeError.
        # The stand-in raises what gem5 raises.
        VirtIOBlock(image=None)
        with self.assertRaisesRegex(AttributeError, "^Class VirtIOBlock has no parameter imag$"):
            VirtIOBlock(imag="disk.img")


def classic(op, code=0):
    return Exit({"exit": "m5_exit instruction encountered", "checkpoint": "checkpoint",
                 "fail": "m5_fail instruction encountered", "workbegin": "workbegin"}[op],
                code)


def hypercall(num):
    return Exit("", 0, num)


class Exits(unittest.TestCase):
    """hack_back.run() against a scripted machine: m5.simulate() returns
    the given exits in turn."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        m5.options.outdir = self.tmp.name
        self.kernel = os.path.join(self.tmp.name, "vmlinux")
        self.disk = os.path.join(self.tmp.name, "disk.img")
        open(self.kernel, "w").close()
        open(self.disk, "w").close()
        self.cpt = os.path.join(self.tmp.name, "cpt")
        if v25():       # no handler left registered by another test's run
            ExitHandler._handler_map.clear()
            ExitHandler._handler_map.update(DEFAULT_HANDLERS)
        self.saved = []
        self.patched = {}
        for name, fn in (("instantiate", lambda d=None: None),
                         ("simulate", self.simulate),
                         ("checkpoint", lambda d: (os.makedirs(d, exist_ok=True),
                                                   self.saved.append(d))),
                         ("curTick", lambda: 1000 * len(self.saved))):
            self.patched[name] = getattr(m5, name)
            setattr(m5, name, fn)
        self.store = hack_back.hackback_digest.store
        hack_back.hackback_digest.store = lambda d, image: {"layout": "L"}

    def tearDown(self):
        for name, fn in self.patched.items():
            setattr(m5, name, fn)
        hack_back.hackback_digest.store = self.store
        self.tmp.cleanup()

    def simulate(self, max_ticks=None):
        if not self.exits:
            self.fail("the run went on after the last scripted exit")
        return self.exits.pop(0)

    def run_hb(self, exits, *argv, restore=False):
        self.exits = list(exits)
        argv = ["--kernel", self.kernel, "--image", self.disk, "--cpu", "atomic"] + list(argv)
        if restore:
            os.makedirs(self.cpt, exist_ok=True)
            argv += ["--restore", self.cpt]
        else:
            argv += ["--checkpoint-dir", self.cpt]
        a = hack_back.parse_args(argv)
        a.root_value, a.root_partition = f"PARTUUID={PARTUUID}", 1
        a.machine = hack_back.machine_record(a, a.root_value)
        m5.objects.Root._instance = None        # one simulation per gem5 process
        rc = hack_back.run(a, {"layout": "L"})
        self.assertEqual(self.exits, [], "exits left over: the run ended early")
        return rc

    def test_checkpoint_after_markers(self):
        exits = [classic("exit"), classic("checkpoint")]
        if v25():
            exits[1:1] = [hypercall(1), hypercall(2), hypercall(3)]
        self.assertEqual(self.run_hb(exits), 0)
        self.assertEqual(self.saved, [self.cpt])
        self.assertTrue(os.path.exists(os.path.join(self.cpt, hack_back.MACHINE_FILE)))

    def test_no_checkpoint(self):
        self.assertEqual(self.run_hb([classic("fail", 4)]), 1)
        self.assertEqual(self.saved, [])

    def test_restore_status(self):
        exits = [classic("workbegin"), classic("fail", 3)]
        if v25():
            exits[1:1] = [hypercall(2), hypercall(4), hypercall(5)]
        self.assertEqual(self.run_hb(exits, restore=True), 3)
        self.assertEqual(self.run_hb([classic("exit")], restore=True), 0)

    def board_built(self):
        """The board of the last run (the Root the Simulator made)."""
        return m5.objects.Root.getInstance().board

    def test_switch_cpu(self):
        # Checkpoint and restore both with --switch-cpu timing (the processor
        # class must match): the restore switches exactly once, at the
        # guest's m5 workbegin, and goes on to the exit.
        self.assertEqual(self.run_hb([classic("checkpoint")], "--switch-cpu", "timing"), 0)
        self.assertEqual(self.board_built().get_processor().switches, 0)
        stored = hack_back.load_machine(self.cpt)
        self.assertEqual((stored["processor"], stored["cpu"], stored["switch_cpu"]),
                         ("SimpleSwitchableProcessor", "atomic", "timing"))
        a = hack_back.parse_args(["--kernel", self.kernel, "--image", self.disk, "--cpu",
                                  "atomic", "--switch-cpu", "timing", "--restore", self.cpt])
        hack_back.check_machine(a, stored, hack_back.machine_record(a, None))   # accepted
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = self.run_hb([classic("workbegin"), classic("exit")], "--switch-cpu", "timing",
                             restore=True)
        self.assertEqual(rc, 0)
        proc = self.board_built().get_processor()
        self.assertEqual(proc.switches, 1)
        self.assertIs(proc.get_cores(), proc._cores["switch"])
        self.assertEqual(
            out.getvalue().count("hack-back: m5 workbegin: switching atomic -> timing"), 1)
        # The same checkpoint restored without --switch-cpu: refused.
        a = hack_back.parse_args(["--kernel", self.kernel, "--image", self.disk, "--cpu",
                                  "atomic", "--restore", self.cpt])
        err = io.StringIO()
        with self.assertRaises(SystemExit) as e, contextlib.redirect_stderr(err):
            hack_back.check_machine(a, stored, hack_back.machine_record(a, None))
        self.assertEqual(e.exception.code, 2)
        self.assertIn("processor class SimpleSwitchableProcessor at the checkpoint, "
                      "SimpleProcessor now", err.getvalue())

    def test_gem5_version_mismatch(self):
        # A checkpoint of another gem5 version: warned about, not refused,
        # and the restore runs.
        self.assertEqual(self.run_hb([classic("checkpoint")]), 0)
        now = hack_back.gem5_version()
        self.assertEqual(now, "25.0.0.1" if v25() else "24.0.0.1")   # the stand-in's
        path = os.path.join(self.cpt, hack_back.MACHINE_FILE)
        with open(path) as f:
            stored = json.load(f)
        self.assertEqual(stored["gem5_version"], now)
        stored["gem5_version"] = "23.1.0.0"
        with open(path, "w") as f:
            json.dump(stored, f)
        a = hack_back.parse_args(["--kernel", self.kernel, "--image", self.disk, "--cpu",
                                  "atomic", "--restore", self.cpt])
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            hack_back.check_machine(a, hack_back.load_machine(self.cpt),
                                    hack_back.machine_record(a, None))   # no SystemExit
        self.assertEqual(err.getvalue(),
                         f"hack-back: WARNING: checkpoint taken with gem5 23.1.0.0, this is "
                         f"{now} (gem5's util/cpt_upgrader.py may be needed)\n")
        self.assertEqual(self.run_hb([classic("exit")], restore=True), 0)

    @unittest.skipUnless(v25(), "hypercalls are v25's")
    def test_v25_hypercalls(self):
        # 7 is a checkpoint, as m5 checkpoint is.
        self.assertEqual(self.run_hb([hypercall(1), hypercall(7)]), 0)
        self.assertEqual(self.saved, [self.cpt])
        # After the checkpoint 3 ends the run as v25's default does: not the
        # benchmark's exit, status 1.
        self.assertEqual(self.run_hb([hypercall(3)], restore=True), 1)
        # An id nobody handles: warned about, the run goes on.
        self.assertEqual(self.run_hb([hypercall(99), classic("exit")], restore=True), 0)

    @unittest.skipUnless(v25(), "hypercalls are v25's")
    def test_v25_without_register_exit_handler(self):
        from gem5.simulate import exit_handler
        register = exit_handler.register_exit_handler
        del exit_handler.register_exit_handler
        try:
            self.assertEqual(self.run_hb([hypercall(1), hypercall(3), classic("checkpoint")]), 0)
            self.assertEqual(self.saved, [self.cpt])
        finally:
            exit_handler.register_exit_handler = register

    def test_api_surface(self):
        try:
            from gem5.simulate import exit_handler
        except ImportError:
            self.assertFalse(v25(), "v25 without gem5.simulate.exit_handler")
            self.assertIsNone(hack_back.hypercall_registrar())
            return
        self.assertTrue(v25())
        with self.assertRaises(TypeError):
            exit_handler.register_exit_handler(hypercall=1, func=None, description="")
        with self.assertRaises(TypeError):
            class Wrong(exit_handler.ExitHandler, hypercall=9):
                pass


if __name__ == "__main__":
    unittest.main()
