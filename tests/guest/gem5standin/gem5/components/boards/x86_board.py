# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: X86Board (v24.0): IDE disk CowDiskImage(child=RawDiskImage(
read_only=True), read_only=False) at board.pc.south_bridge.ide.disks[0].image,
disk device /dev/hda, gem5's default kernel arguments.
"""
from types import SimpleNamespace
from typing import List

from m5.objects import CowDiskImage, IdeDisk, RawDiskImage

from ...isas import ISA
from .abstract_board import AbstractBoard
from .kernel_disk_workload import KernelDiskWorkload


class X86Board(AbstractBoard, KernelDiskWorkload):
    def __init__(self, clk_freq: str, processor, memory, cache_hierarchy) -> None:
        super().__init__(clk_freq=clk_freq, processor=processor, memory=memory,
                         cache_hierarchy=cache_hierarchy)
        if self.get_processor().get_isa() != ISA.X86:
            raise Exception("The X86Board requires a processor using the X86 ISA. "
                            f"Current processor ISA: '{processor.get_isa().name}'.")
        if memory.get_size() > 3 << 30:
            raise Exception("X86Board currently only supports memory sizes up to 3GB "
                            "because of the I/O hole.")

    def _setup_board(self) -> None:
        self.pc = SimpleNamespace(south_bridge=SimpleNamespace(ide=SimpleNamespace(disks=[])))

    def get_disk_device(self):
        return "/dev/hda"

    def _add_disk_to_board(self, disk_image):
        ide_disk = IdeDisk()
        ide_disk.driveID = "device0"
        ide_disk.image = CowDiskImage(child=RawDiskImage(read_only=True), read_only=False)
        ide_disk.image.child.image_file = disk_image.get_local_path()
        self.pc.south_bridge.ide.disks = [ide_disk]

    def get_default_kernel_args(self) -> List[str]:
        return [
            "earlyprintk=ttyS0",
            "console=ttyS0",
            "lpj=7999923",
            "root={root_value}",
            "disk_device={disk_device}",
        ]
