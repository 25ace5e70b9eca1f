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


def parse_args():
    p = argparse.ArgumentParser(description="hack-back run on a hackbackfs image")
    p.add_argument("--image", required=True,
                   help="the raw disk image, MNT/hack-back of a hackbackfs mount")
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
                   help="restore this checkpoint (refused if the layout differs)")
    p.add_argument("--readfile", default=None,
                   help="host file the guest's `m5 readfile` returns (takes "
                        "precedence over the image's restore slot)")
    p.add_argument("--allow-layout-mismatch", action="store_true",
                   help="restore anyway when the layout differs (you get to keep the pieces)")
    return p.parse_args()


args = parse_args()


def die(msg):
    print(f"hack-back: {msg}", file=sys.stderr)
    sys.exit(2)


# --- checks that must happen before any simulation ---------------------------
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

# --- gem5 ---------------------------------------------------------------------
import m5  # noqa: E402
from gem5.components.boards.x86_board import X86Board  # noqa: E402
from gem5.components.cachehierarchies.classic.private_l1_private_l2_cache_hierarchy import (  # noqa: E402
    PrivateL1PrivateL2CacheHierarchy,
)
from gem5.components.memory.single_channel import SingleChannelDDR3_1600  # noqa: E402
from gem5.components.processors.cpu_types import CPUTypes  # noqa: E402
from gem5.components.processors.simple_processor import SimpleProcessor  # noqa: E402
from gem5.isas import ISA  # noqa: E402
from gem5.simulate.exit_event import ExitEvent  # noqa: E402
from gem5.simulate.simulator import Simulator  # noqa: E402
from gem5.utils.requires import requires  # noqa: E402

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
    disk_image=disk_resource(os.path.abspath(args.image)),
    kernel_args=kernel_args,
)
if args.readfile:
    workload["readfile"] = args.readfile
if args.restore:
    workload["checkpoint"] = checkpoint_resource(args.restore)
board.set_kernel_disk_workload(**workload)

checkpoint_dir = Path(args.checkpoint_dir or os.path.join(m5.options.outdir, "hack-back-cpt"))


def on_checkpoint():
    """ExitEvent.CHECKPOINT: the guest ran `m5 checkpoint`."""
    while True:
        simulator.save_checkpoint(checkpoint_dir)
        try:
            saved = hackback_digest.store(str(checkpoint_dir), args.image)
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
