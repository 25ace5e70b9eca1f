# SPDX-License-Identifier: BSD-3-Clause
# gem5 stdlib run script (gem5 v23 to v25: v25's hypercalls go to its exit
# handlers, found by import; older versions see exit events only) for a hack-back
# image served by hackbackfs: boot, take the checkpoint the guest asks for,
# or restore it and run a benchmark's restore script. See README.md beside it.
#
# Take the boot checkpoint (the guest's /root/.bashrc runs `m5 checkpoint`):
#
#   hackbackfs -o m5=/path/to/m5 BASE overlays/hack-back MNT
#   gem5.opt contrib/gem5/hack_back.py --image MNT/hack-back \
#       --kernel vmlinux --checkpoint-dir cpt/boot
#
# Restore it and run a benchmark's restore script (same BASE/overlay/options,
# only restore= differs, so the file system layout is the same):
#
#   hackbackfs -o m5=/path/to/m5,restore=bench.sh BASE overlays/hack-back MNT2
#   gem5.opt contrib/gem5/hack_back.py --image MNT2/hack-back \
#       --kernel vmlinux --restore cpt/boot
#
# gem5 exits with the benchmark's status: the guest reports a failing restore
# script with `m5 fail STATUS`, and this script exits with STATUS.
#
# Beside the checkpoint go the image's digests (hackback.digests) and the
# machine (hackback.machine: board, cores, memory, processor, gem5 version).
# --restore refuses, before gem5 builds anything, when the image's layout or
# the machine differs: gem5 checkpoints do not record their disk image, and a
# guest restored onto a moved layout reads wrong blocks without any error.
#
# Export mode (no FUSE where gem5 runs): gem5 reads BASE directly, under its
# own CowDiskImage loaded from the file hackbackfs --export-cow wrote:
#
#   hackbackfs --export-cow boot.cow -o m5=/path/to/m5 BASE overlays/hack-back
#   gem5.opt contrib/gem5/hack_back.py --base BASE --cow boot.cow \
#       --kernel vmlinux --checkpoint-dir cpt/boot
#   gem5.opt contrib/gem5/hack_back.py --base BASE --readfile bench.sh \
#       --kernel vmlinux --restore cpt/boot
#
# The root device comes from the image's manifest (MNT/hack-back.json, or
# FILE.json in export mode): root=PARTUUID=... of the ext4 partition, which
# the kernel resolves itself whatever it names the disk (hda, sda, vda).

import argparse
import json
import os
import re
import sys
from pathlib import Path

try:
    _here = os.path.dirname(os.path.abspath(__file__))
except NameError:  # some gem5 versions run the script without __file__
    _here = os.path.dirname(os.path.abspath(sys.argv[0]))
sys.path.insert(0, _here)
import hackback_digest  # noqa: E402

MACHINE_FILE = "hackback.machine"
CPU_TYPES = ["kvm", "atomic", "timing", "o3", "minor"]
BOARDS = {  # --board: ISA, the guest's disk and console (for messages only)
    "x86": ("X86", "/dev/hda (gem5's kernels) or /dev/sda (libata)", "ttyS0"),
    "arm": ("ARM", "/dev/vda", "ttyAMA0"),
    "riscv": ("RISCV", "/dev/vda", "ttyS0"),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="hack-back run on a hackbackfs image")
    disk = p.add_mutually_exclusive_group(required=True)
    disk.add_argument("--image",
                      help="the raw disk image, MNT/hack-back of a hackbackfs mount")
    disk.add_argument("--base",
                      help="export mode: the base image itself, read by gem5 directly "
                           "under the COW file given with --cow")
    p.add_argument("--cow", default=None,
                   help="export mode: the file of hackbackfs --export-cow FILE, loaded "
                        "read-only as the disk's CowDiskImage table (needs --base; "
                        "optional with --restore, whose checkpoint holds the table)")
    p.add_argument("--board", default="x86", choices=sorted(BOARDS),
                   help="X86Board (default), ArmBoard or RiscvBoard")
    p.add_argument("--kernel", required=True,
                   help="a gem5-bootable vmlinux (disk and ext4 drivers built in)")
    p.add_argument("--bootloader", default=None,
                   help="ArmBoard/RiscvBoard: the bootloader (e.g. gem5-resources' "
                        "arm64-bootloader-foundation)")
    p.add_argument("--root", default=None,
                   help="root= for the kernel (default: PARTUUID=... of the image's "
                        "ext4 partition, from its manifest; else the board's disk "
                        "device + partition number, e.g. /dev/hda1)")
    p.add_argument("--cpu", default="kvm", choices=CPU_TYPES,
                   help="CPU model to run (default kvm)")
    p.add_argument("--switch-cpu", default=None, choices=CPU_TYPES, metavar="TYPE",
                   help="start on --cpu and switch to TYPE at the guest's m5 workbegin "
                        "(SimpleSwitchableProcessor; give it at checkpoint and restore)")
    p.add_argument("--kvm-no-perf", action="store_true",
                   help="KVM CPUs without perf counters (usePerf = False), for hosts and "
                        "containers without perf access")
    p.add_argument("--cores", type=int, default=1)
    p.add_argument("--mem", default="2GiB", help="memory size (X86Board: at most 3GiB)")
    p.add_argument("--checkpoint-dir", default=None,
                   help="where to save the checkpoint (default <outdir>/hack-back-cpt)")
    p.add_argument("--continue-after-checkpoint", action="store_true",
                   help="keep simulating after saving the checkpoint")
    p.add_argument("--restore", metavar="DIR", default=None,
                   help="restore this checkpoint (refused if the layout, the machine, "
                        "or in export mode BASE, differs)")
    script = p.add_mutually_exclusive_group()
    script.add_argument("--readfile", default=None,
                        help="host file the guest's `m5 readfile` returns (takes "
                             "precedence over the image's restore slot)")
    script.add_argument("--command", default=None, metavar="STRING",
                        help="what the guest's `m5 readfile` returns, given as a "
                             "string (gem5's readfile_contents)")
    p.add_argument("--allow-layout-mismatch", action="store_true",
                   help="restore anyway when the layout differs (you get to keep the pieces)")
    args = p.parse_args(argv)
    if args.cow and not args.base:
        p.error("--cow goes with --base (export mode)")
    if args.base and not args.cow and not args.restore:
        p.error("--base needs --cow FILE (from hackbackfs --export-cow FILE), "
                "or --restore DIR of a checkpoint taken with them")
    if args.cores < 1:
        p.error("--cores must be at least 1")
    try:
        args.mem_bytes = mem_bytes(args.mem)
    except ValueError as e:
        p.error(str(e))
    if args.kvm_no_perf and "kvm" not in (args.cpu, args.switch_cpu):
        p.error("--kvm-no-perf needs a KVM CPU (--cpu kvm)")
    if args.board == "riscv" and "kvm" in (args.cpu, args.switch_cpu):
        p.error("gem5 has no KVM CPU for RISC-V: choose --cpu atomic, timing, o3 or minor")
    return args


def mem_bytes(text):
    """gem5's memory sizes: binary units whether written kB/MB/GB or KiB/MiB/GiB."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKMGT]i?B|B)?\s*", text)
    if not m:
        raise ValueError(f"--mem {text!r}: want a size such as 2GiB or 512MiB")
    shift = {"B": 0, "k": 10, "K": 10, "M": 20, "G": 30, "T": 40}[(m.group(2) or "B")[0]]
    return int(m.group(1)) << shift


def die(msg, code=2):
    print(f"hack-back: {msg}", file=sys.stderr)
    sys.exit(code)


def gem5_version():
    try:
        from _m5 import core
        return str(core.gem5Version)
    except (ImportError, AttributeError):
        return None


def manifest_path(args):
    """MNT/hack-back.json beside the served image, FILE.json beside --cow."""
    if args.image:
        return args.image + ".json"
    return args.cow + ".json" if args.cow else None


def read_manifest(args):
    path = manifest_path(args)
    if not path or not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        die(f"{path}: cannot read the image's manifest: {e}")


def choose_root(args, manifest, stored=None):
    """(root= value or None, partition number or None, why).

    None as the value leaves gem5's own `root={root_value}`: the board's
    disk device + the partition number (X86Board: /dev/hda1).
    """
    if args.root:
        return args.root, None, "--root"
    if manifest is None and stored and stored.get("root"):
        return stored["root"], None, "the checkpoint's machine record"
    part = (manifest or {}).get("partition") or {}
    number = part.get("number") or None
    if part.get("partuuid"):
        return f"PARTUUID={part['partuuid']}", number, \
            f"{part.get('table') or 'disk'} partition {number} of the manifest"
    if manifest is None:
        return None, 1, "no manifest found: gem5's default, partition 1"
    return None, number, "the manifest has no PARTUUID: the board's disk device"


def machine_record(args, root):
    return {
        "board": args.board,
        "isa": BOARDS[args.board][0].lower(),
        "cores": args.cores,
        "mem": args.mem_bytes,
        "processor": "SimpleSwitchableProcessor" if args.switch_cpu else "SimpleProcessor",
        "cpu": args.cpu,
        "switch_cpu": args.switch_cpu,
        "gem5_version": gem5_version(),
        "root": root,
    }


def store_machine(checkpoint_dir, record):
    os.makedirs(checkpoint_dir, exist_ok=True)
    tmp = os.path.join(checkpoint_dir, MACHINE_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(checkpoint_dir, MACHINE_FILE))


def load_machine(checkpoint_dir):
    path = os.path.join(checkpoint_dir, MACHINE_FILE)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        die(f"{path}: unreadable machine record: {e}")


def check_machine(args, stored, current):
    """One message naming every difference that gem5 cannot restore across."""
    if stored is None:
        print(f"hack-back: note: {args.restore} has no {MACHINE_FILE} (taken by an older "
              f"hack_back.py): the machine is not checked", file=sys.stderr)
        return
    diffs = []
    for key, what in (("board", "board"), ("cores", "cores"), ("mem", "memory bytes"),
                      ("processor", "processor class")):
        if stored.get(key) != current[key]:
            diffs.append(f"{what} {stored.get(key)} at the checkpoint, {current[key]} now")
    if diffs:
        hint = " (--switch-cpu decides the processor class)" if any(
            "processor" in d for d in diffs) else ""
        die(f"cannot restore {args.restore} on this machine: " + "; ".join(diffs) +
            f"{hint}. Use the checkpoint's --board/--cores/--mem, or take a new checkpoint.")
    if stored.get("gem5_version") and current["gem5_version"] and \
            stored["gem5_version"] != current["gem5_version"]:
        print(f"hack-back: WARNING: checkpoint taken with gem5 {stored['gem5_version']}, "
              f"this is {current['gem5_version']} (gem5's util/cpt_upgrader.py may be needed)",
              file=sys.stderr)
    if stored.get("cpu") != current["cpu"]:
        print(f"hack-back: restoring a {stored.get('cpu')} checkpoint on {current['cpu']} CPUs")


def preflight(args):
    """Every check that must happen before anything is simulated.

    Returns what the checkpoint handler stores: the mounted image's digests,
    or in export mode the COW file's identity (None when restoring without
    --cow: the checkpoint's table is the disk then). Sets args.root_value,
    args.root_partition and args.machine.
    """
    stored_machine = load_machine(args.restore) if args.restore else None
    manifest = read_manifest(args)
    args.root_value, args.root_partition, why = choose_root(args, manifest, stored_machine)
    args.machine = machine_record(args, args.root_value)
    if args.restore:
        check_machine(args, stored_machine, args.machine)
    shown = args.root_value or f"gem5's {{root_value}} with partition {args.root_partition}"
    print(f"hack-back: board {args.board}, root={shown} ({why})")
    if args.base:
        return preflight_cow(args)
    try:
        startup = hackback_digest.image_digests(args.image)
    except hackback_digest.HackbackDigestError as e:
        die(f"{e}\n(without those xattrs a checkpoint cannot be tied to its image)")
    print(f"hack-back: image {args.image}\n"
          f"hack-back:   layout {startup['layout']}\n"
          f"hack-back:   digest {startup['digest']}")

    if args.restore:
        try:
            stored, _, same = hackback_digest.check_restore(args.restore, args.image)
        except hackback_digest.LayoutMismatch as e:
            if not args.allow_layout_mismatch:
                die(str(e))
            print(f"hack-back: WARNING (--allow-layout-mismatch): {e}", file=sys.stderr)
        except hackback_digest.HackbackDigestError as e:
            die(str(e))
        else:
            print("hack-back: layout matches the checkpoint"
                  + ("" if same else "; image bytes differ (another restore script)"))
    return startup


def preflight_cow(args):
    ident = None
    try:
        if args.cow:
            ident = hackback_digest.read_cow_identity(args.cow)
            hackback_digest.check_base(args.base, ident)
            print(f"hack-back: base {args.base} under {args.cow} "
                  f"({ident['sectors']} sectors, ~{ident['sectors'] * 600 >> 20} MiB of "
                  f"gem5 memory)\n"
                  f"hack-back:   base fingerprint {ident['base']}\n"
                  f"hack-back:   layout {ident['layout']}\n"
                  f"hack-back:   digest {ident['digest']}")
        if args.restore:
            stored = hackback_digest.check_restore_cow(args.restore, args.base)
            if ident and stored["layout"] != ident["layout"]:
                print("hack-back: note: --cow is another image than the checkpoint's; "
                      "the checkpoint's table replaces it at restore", file=sys.stderr)
            print(f"hack-back: base matches the checkpoint {args.restore}")
            ident = stored  # the checkpoint's table is the disk from now on
    except hackback_digest.HackbackDigestError as e:
        die(str(e))
    return ident


def board_disk_image(board):
    """The board's CowDiskImage (set up by set_kernel_disk_workload)."""
    if hasattr(board, "pc"):                      # X86Board: IDE
        return board.pc.south_bridge.ide.disks[0].image
    if hasattr(board, "disk"):                    # RiscvBoard: board.disk.vio
        return board.disk.vio.image
    return board._image                           # ArmBoard: PciVirtIO(VirtIOBlock)


def use_cow_table(board, cow):
    """Make the board's disk gem5's COW layer loaded from COW, over BASE.

    Every stdlib board wraps its disk as CowDiskImage(child=RawDiskImage(
    read_only=True)); with image_file set, the CowDiskImage loads its sector
    table from that file, and read_only=True keeps gem5 from writing it back
    at exit (guest writes stay in memory and in checkpoints). On a restore
    pass cow=None: the checkpoint's .cow is loaded by unserialize(), and an
    image_file would be loaded first and leaked.
    """
    image = board_disk_image(board)
    if not hasattr(image, "child"):
        raise RuntimeError("the board's disk is not a CowDiskImage over a RawDiskImage")
    image.child.read_only = True
    if cow:
        image.image_file = os.path.abspath(cow)
    image.read_only = True
    return image


def exit_status(code):
    """A shell's view of the guest's status: 1..255, never 0 for a failure."""
    return code if isinstance(code, int) and 0 < code < 256 else 1


def main():
    args = parse_args()
    startup = preflight(args)
    sys.exit(run(args, startup))


def make_board(args):
    from gem5.components.cachehierarchies.classic.private_l1_private_l2_cache_hierarchy import (
        PrivateL1PrivateL2CacheHierarchy,
    )
    from gem5.components.memory.single_channel import SingleChannelDDR3_1600
    from gem5.components.processors.cpu_types import CPUTypes
    from gem5.isas import ISA
    from gem5.utils.requires import requires

    isa = getattr(ISA, BOARDS[args.board][0])
    kvm = "kvm" in (args.cpu, args.switch_cpu)
    requires(isa_required=isa, kvm_required=kvm)
    cpu_type = {t: getattr(CPUTypes, t.upper()) for t in CPU_TYPES}
    if args.switch_cpu:
        from gem5.components.processors.simple_switchable_processor import (
            SimpleSwitchableProcessor,
        )
        processor = SimpleSwitchableProcessor(
            starting_core_type=cpu_type[args.cpu], switch_core_type=cpu_type[args.switch_cpu],
            num_cores=args.cores, isa=isa)
        cores = processor._all_cores()   # the start and the switch cores
    else:
        from gem5.components.processors.simple_processor import SimpleProcessor
        processor = SimpleProcessor(cpu_type=cpu_type[args.cpu], num_cores=args.cores, isa=isa)
        cores = processor.get_cores()
    if args.kvm_no_perf:
        for core in cores:
            if core.is_kvm_core():
                core.core.usePerf = False
    parts = dict(
        clk_freq="3GHz",
        processor=processor,
        memory=SingleChannelDDR3_1600(size=args.mem),
        cache_hierarchy=PrivateL1PrivateL2CacheHierarchy(
            l1d_size="32KiB", l1i_size="32KiB", l2_size="512KiB"),
    )
    if args.board == "x86":
        from gem5.components.boards.x86_board import X86Board
        return X86Board(**parts)
    if args.board == "riscv":
        from gem5.components.boards.riscv_board import RiscvBoard
        return RiscvBoard(**parts)
    from gem5.components.boards.arm_board import ArmBoard
    from m5.objects import ArmDefaultRelease, VExpress_GEM5_Foundation, VExpress_GEM5_V1
    if kvm:  # gem5's KVM examples: the KVM release and the V1 platform (GICv2)
        return ArmBoard(release=ArmDefaultRelease.for_kvm(), platform=VExpress_GEM5_V1(),
                        **parts)
    return ArmBoard(release=ArmDefaultRelease(), platform=VExpress_GEM5_Foundation(), **parts)


def resources():
    """(disk(path, partition), kernel(path), bootloader(path), checkpoint(path))."""
    try:  # gem5 >= 23.0
        from gem5.resources.resource import (
            BootloaderResource, DiskImageResource, KernelResource,
        )

        def disk(path, part):
            return DiskImageResource(local_path=path, root_partition=part)

        def kernel(path):
            return KernelResource(local_path=path)

        def bootloader(path):
            return BootloaderResource(local_path=path)
    except ImportError:  # gem5 22.x
        from gem5.resources.resource import CustomDiskImageResource, CustomResource

        def disk(path, part):
            return CustomDiskImageResource(local_path=path, disk_root_partition=part)

        def kernel(path):
            return CustomResource(local_path=path)

        bootloader = kernel
    try:
        from gem5.resources.resource import CheckpointResource

        def checkpoint(path):
            return CheckpointResource(local_path=str(path))
    except ImportError:
        def checkpoint(path):
            return Path(path)
    return disk, kernel, bootloader, checkpoint


def setup_board(args):
    """The board with its workload: kernel, disk, root=, readfile, checkpoint."""
    board = make_board(args)
    disk, kernel, bootloader, checkpoint = resources()
    kernel_args = board.get_default_kernel_args()
    if args.root_value:
        kernel_args = [a if not a.startswith("root=") else f"root={args.root_value}"
                       for a in kernel_args]
    part = str(args.root_partition) if args.root_partition else None
    workload = dict(
        kernel=kernel(args.kernel),
        disk_image=disk(os.path.abspath(args.image or args.base), part),
        kernel_args=kernel_args,
    )
    if args.bootloader:
        workload["bootloader"] = bootloader(args.bootloader)
    if args.readfile:
        workload["readfile"] = args.readfile
    if args.command is not None:
        workload["readfile_contents"] = args.command
    if args.restore:
        workload["checkpoint"] = checkpoint(args.restore)
    board.set_kernel_disk_workload(**workload)
    if args.base:
        # On a restore the checkpoint's table is the disk: no image_file.
        use_cow_table(board, None if args.restore else args.cow)
    return board


def hypercall_registrar():
    """gem5 v25's way to handle a hypercall (gem5.simulate.exit_handler), as
    register(id, func(simulator, payload) -> end?, description); None on a
    gem5 without it (v24 and older: everything arrives through
    on_exit_event). Found by import, not by version number."""
    try:
        from gem5.simulate import exit_handler
    except ImportError:
        return None
    register = getattr(exit_handler, "register_exit_handler", None)
    if register is not None:
        return register
    base = getattr(exit_handler, "ExitHandler", None)
    if base is None:
        return None

    def register(num, func, description):
        # The same thing by hand: the class keyword registers the subclass.
        class HackBackHandler(base, hypercall_num=num):
            def __init__(self, payload):
                super().__init__(payload)
                self._end = False

            def get_handler_description(self):
                return description

            def _process(self, simulator):
                self._end = bool(func(simulator, self._payload))

            def _exit_simulation(self):
                return self._end
        return HackBackHandler
    return register


# v25's hypercalls that hack_back.py handles itself (the others keep gem5's
# defaults): the boot markers of gem5-resources' images, and the
# hypercall forms of m5 workbegin, workend and checkpoint.
HYPERCALLS = {
    1: "kernel booted",
    2: "after_boot started",
    3: "after_boot finished",
    4: "work begin",
    5: "work end",
    7: "checkpoint",
}


def run(args, startup):
    """Build the board, simulate, return the process's exit status."""
    import m5
    from gem5.simulate.exit_event import ExitEvent
    from gem5.simulate.simulator import Simulator

    board = setup_board(args)
    checkpoint_dir = Path(args.checkpoint_dir or os.path.join(m5.options.outdir, "hack-back-cpt"))
    state = {"markers": 0, "checkpointed": False}

    def store_digests():
        if args.base:
            hackback_digest.store_cow(str(checkpoint_dir), args.base, startup)
            return startup
        return hackback_digest.store(str(checkpoint_dir), args.image)

    # Each handler returns True when the run ends.
    def checkpoint():
        """The guest ran `m5 checkpoint` (or hypercall 7)."""
        simulator.save_checkpoint(checkpoint_dir)
        state["checkpointed"] = True
        store_machine(str(checkpoint_dir), args.machine)
        try:
            saved = store_digests()
        except hackback_digest.HackbackDigestError as e:
            print(f"hack-back: checkpoint saved in {checkpoint_dir}, but its digests "
                  f"could not be stored: {e}", file=sys.stderr)
            state["digest_error"] = True
            return True
        if saved["layout"] != startup["layout"]:
            print("hack-back: WARNING: the image's layout changed during the run "
                  f"({startup['layout']} -> {saved['layout']})", file=sys.stderr)
        print(f"hack-back: checkpoint saved in {checkpoint_dir} "
              f"(layout {saved['layout']}; {state['markers']} boot marker(s) before it)")
        return not args.continue_after_checkpoint

    def boot_marker(what):
        """Before the checkpoint of a checkpoint run, every exit is a boot
        marker (gem5-resources' gem5_init.sh exits once the kernel is up):
        count it and go on. Returns None when it is not one."""
        if args.restore or state["checkpointed"]:
            return None
        state["markers"] += 1
        print(f"hack-back: boot marker {state['markers']} ({what} before the "
              f"checkpoint, tick {simulator.get_current_tick()}): continuing")
        return False

    def on_exit():
        """m5 exit: a boot marker, or the end of the run."""
        end = boot_marker("m5 exit")
        return True if end is None else end

    def workbegin():
        if args.switch_cpu:
            print(f"hack-back: m5 workbegin: switching {args.cpu} -> {args.switch_cpu}")
            board.get_processor().switch()
        m5.stats.reset()
        return False

    def workend():
        m5.stats.dump()
        return False

    def hypercall(num):
        """v25: hypercall NUM. 1 and 2 go on, as gem5's defaults do; 3 (the
        image's after_boot script finished) is a boot marker before the
        checkpoint and ends the run after it, as gem5's default does."""
        def handle(simulator_, payload):
            if num == 7:
                return checkpoint()
            if num == 4:
                return workbegin()
            if num == 5:
                return workend()
            end = boot_marker(f"hypercall {num}, {HYPERCALLS[num]},")
            if end is None:
                end = num == 3
                print(f"hack-back: hypercall {num} ({HYPERCALLS[num]}) at tick "
                      f"{simulator.get_current_tick()}: {'ending' if end else 'continuing'}")
            return end
        return handle

    def forever(handler):
        """A handler as an on_exit_event generator (every gem5 from 22.1
        takes generators)."""
        while True:
            yield handler()

    register = hypercall_registrar()
    if register is not None:
        for num, what in HYPERCALLS.items():
            register(num, hypercall(num), f"hack-back: {what}")
        print(f"hack-back: gem5 {gem5_version() or '?'} has exit handlers: hack_back.py "
              f"handles hypercalls {', '.join(map(str, HYPERCALLS))}")
    simulator = Simulator(
        board=board,
        on_exit_event={
            ExitEvent.CHECKPOINT: forever(checkpoint),
            ExitEvent.EXIT: forever(on_exit),
            ExitEvent.WORKBEGIN: forever(workbegin),
            ExitEvent.WORKEND: forever(workend),
        },
    )
    simulator.run()
    cause = simulator.get_last_exit_event_cause()
    code = simulator.get_last_exit_event_code()
    hid = simulator.get_hypercall_id() if hasattr(simulator, "get_hypercall_id") else 0
    if hid:
        cause = f"hypercall {hid}" + (f" ({HYPERCALLS[hid]})" if hid in HYPERCALLS else "")
    print(f"hack-back: simulation ended at tick {simulator.get_current_tick()}: {cause}"
          f" (code {code})")
    if hid:
        event = ExitEvent.CHECKPOINT if hid == 7 else None
    else:
        try:
            event = ExitEvent.translate_exit_status(cause)
        except NotImplementedError:
            event = None
    if not args.restore and not state["checkpointed"]:
        print(f"hack-back: the simulation ended before the guest's m5 checkpoint "
              f"({state['markers']} boot marker(s) seen): no checkpoint in {checkpoint_dir}",
              file=sys.stderr)
        return 1
    if state.get("digest_error"):
        return 1
    if event == ExitEvent.FAIL:
        print(f"hack-back: the guest reported failure (m5 fail {code})", file=sys.stderr)
        return exit_status(code)
    if event in (ExitEvent.EXIT, ExitEvent.CHECKPOINT):
        return 0 if not code else exit_status(code)
    print(f"hack-back: the simulation did not end with the guest's m5 exit: {cause}",
          file=sys.stderr)
    return 1


# gem5 runs a config script as __m5_main__; imported (by the unit tests),
# it only defines the functions above.
if __name__ in ("__main__", "__m5_main__"):
    main()
