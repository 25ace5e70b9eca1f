# gem5 stdlib run script (gem5 v23/v24) for a hack-back image served by
# hackbackfs. Not runnable without gem5; see README.md beside it.
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
# At the checkpoint the image's user.hackback.layout/digest xattrs are written
# to <checkpoint dir>/hackback.digests. --restore refuses, before anything is
# simulated, when the image's layout is not the stored one: gem5 checkpoints do
# not record their disk image, and a guest restored onto a moved layout reads
# wrong blocks without any error.
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
# BASE's fingerprint must be the one in FILE's trailer (checked before
# simulating); it is stored beside the checkpoint and checked again on
# restore. The checkpoint's .cow holds the whole delta, so a restore needs
# only BASE (--cow is optional there), and a new restore script must come
# through --readfile: the image's restore slot is frozen in the checkpoint.

import argparse
import os
import sys
from pathlib import Path

try:
    _here = os.path.dirname(os.path.abspath(__file__))
except NameError:  # some gem5 versions run the script without __file__
    _here = os.path.dirname(os.path.abspath(sys.argv[0]))
sys.path.insert(0, _here)
import hackback_digest  # noqa: E402


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
    p.add_argument("--kernel", required=True,
                   help="a gem5-bootable x86 vmlinux (disk and ext4 drivers built in)")
    p.add_argument("--root", default="/dev/sda1",
                   help="root= for the kernel (default /dev/sda1: libata names "
                        "gem5's PIIX IDE disk sda; old IDE kernels want /dev/hda1)")
    p.add_argument("--cpu", default="kvm", choices=["kvm", "atomic", "timing", "o3"],
                   help="CPU model (default kvm)")
    p.add_argument("--cores", type=int, default=1)
    p.add_argument("--mem", default="2GiB", help="memory size (X86Board: at most 3GiB)")
    p.add_argument("--checkpoint-dir", default=None,
                   help="where to save the checkpoint (default <outdir>/hack-back-cpt)")
    p.add_argument("--continue-after-checkpoint", action="store_true",
                   help="keep simulating after saving the checkpoint")
    p.add_argument("--restore", metavar="DIR", default=None,
                   help="restore this checkpoint (refused if the layout, or in export "
                        "mode BASE, differs)")
    p.add_argument("--readfile", default=None,
                   help="host file the guest's `m5 readfile` returns (takes "
                        "precedence over the image's restore slot)")
    p.add_argument("--allow-layout-mismatch", action="store_true",
                   help="restore anyway when the layout differs (you get to keep the pieces)")
    args = p.parse_args(argv)
    if args.cow and not args.base:
        p.error("--cow goes with --base (export mode)")
    if args.base and not args.cow and not args.restore:
        p.error("--base needs --cow FILE (from hackbackfs --export-cow FILE), "
                "or --restore DIR of a checkpoint taken with them")
    return args


def die(msg):
    print(f"hack-back: {msg}", file=sys.stderr)
    sys.exit(2)


def preflight(args):
    """Every check that must happen before anything is simulated.

    Returns what the checkpoint handler stores: the mounted image's digests,
    or in export mode the COW file's identity (None when restoring without
    --cow: the checkpoint's table is the disk then).
    """
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


def use_cow_table(board, cow):
    """Make the board's disk gem5's COW layer loaded from COW, over BASE.

    X86Board wraps its disk as CowDiskImage(child=RawDiskImage(read_only=
    True), read_only=False); with image_file set, the CowDiskImage loads its
    sector table from that file, and read_only=True keeps gem5 from writing
    it back at exit (guest writes stay in memory and in checkpoints).
    """
    disks = board.pc.south_bridge.ide.disks
    image = disks[0].image
    if not hasattr(image, "child"):
        raise RuntimeError("the board's disk is not a CowDiskImage over a RawDiskImage")
    image.child.read_only = True
    if cow:
        image.image_file = os.path.abspath(cow)
    image.read_only = True
    return image


def main():
    args = parse_args()
    startup = preflight(args)
    run(args, startup)


def run(args, startup):
    import m5
    from gem5.components.boards.x86_board import X86Board
    from gem5.components.cachehierarchies.classic.private_l1_private_l2_cache_hierarchy import (
        PrivateL1PrivateL2CacheHierarchy,
    )
    from gem5.components.memory.single_channel import SingleChannelDDR3_1600
    from gem5.components.processors.cpu_types import CPUTypes
    from gem5.components.processors.simple_processor import SimpleProcessor
    from gem5.isas import ISA
    from gem5.simulate.exit_event import ExitEvent
    from gem5.simulate.simulator import Simulator
    from gem5.utils.requires import requires

    try:  # gem5 >= 23.0
        from gem5.resources.resource import DiskImageResource, KernelResource

        def disk_resource(path):
            return DiskImageResource(local_path=path, root_partition="1")

        def kernel_resource(path):
            return KernelResource(local_path=path)
    except ImportError:  # gem5 22.x
        from gem5.resources.resource import CustomDiskImageResource, CustomResource

        def disk_resource(path):
            return CustomDiskImageResource(local_path=path, disk_root_partition="1")

        def kernel_resource(path):
            return CustomResource(local_path=path)

    try:
        from gem5.resources.resource import CheckpointResource

        def checkpoint_resource(path):
            return CheckpointResource(local_path=str(path))
    except ImportError:
        def checkpoint_resource(path):
            return Path(path)

    cpu_type = {"kvm": CPUTypes.KVM, "atomic": CPUTypes.ATOMIC,
                "timing": CPUTypes.TIMING, "o3": CPUTypes.O3}[args.cpu]
    requires(isa_required=ISA.X86, kvm_required=(args.cpu == "kvm"))

    board = X86Board(
        clk_freq="3GHz",
        processor=SimpleProcessor(cpu_type=cpu_type, isa=ISA.X86, num_cores=args.cores),
        memory=SingleChannelDDR3_1600(size=args.mem),
        cache_hierarchy=PrivateL1PrivateL2CacheHierarchy(
            l1d_size="32KiB", l1i_size="32KiB", l2_size="512KiB"),
    )

    kernel_args = [a if not a.startswith("root=") else f"root={args.root}"
                   for a in board.get_default_kernel_args()]

    workload = dict(
        kernel=kernel_resource(args.kernel),
        disk_image=disk_resource(os.path.abspath(args.image or args.base)),
        kernel_args=kernel_args,
    )
    if args.readfile:
        workload["readfile"] = args.readfile
    if args.restore:
        workload["checkpoint"] = checkpoint_resource(args.restore)
    board.set_kernel_disk_workload(**workload)
    if args.base:
        use_cow_table(board, args.cow)

    checkpoint_dir = Path(args.checkpoint_dir or os.path.join(m5.options.outdir, "hack-back-cpt"))

    def store_digests():
        if args.base:
            hackback_digest.store_cow(str(checkpoint_dir), args.base, startup)
            return startup
        return hackback_digest.store(str(checkpoint_dir), args.image)

    def on_checkpoint():
        """ExitEvent.CHECKPOINT: the guest ran `m5 checkpoint`."""
        while True:
            simulator.save_checkpoint(checkpoint_dir)
            try:
                saved = store_digests()
            except hackback_digest.HackbackDigestError as e:
                print(f"hack-back: checkpoint saved in {checkpoint_dir}, but its digests "
                      f"could not be stored: {e}", file=sys.stderr)
                yield True
                return
            if saved["layout"] != startup["layout"]:
                print("hack-back: WARNING: the image's layout changed during the run "
                      f"({startup['layout']} -> {saved['layout']})", file=sys.stderr)
            print(f"hack-back: checkpoint saved in {checkpoint_dir} "
                  f"(layout {saved['layout']})")
            yield not args.continue_after_checkpoint

    simulator = Simulator(
        board=board,
        on_exit_event={ExitEvent.CHECKPOINT: on_checkpoint()},
    )
    simulator.run()
    print(f"hack-back: simulation ended at tick {simulator.get_current_tick()}: "
          f"{simulator.get_last_exit_event_cause()}")


# gem5 runs a config script as __m5_main__; imported (by the unit tests),
# it only defines the functions above.
if __name__ in ("__main__", "__m5_main__"):
    main()
