# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: ArmBoard (v24.0 constructor): the disk is
CowDiskImage(child=RawDiskImage(read_only=True, image_file=...), read_only=False)
behind PciVirtIO(vio=VirtIOBlock(image=...)), /dev/vda, console ttyAMA0.
"""
from typing import List

from m5.objects import (
    ArmDefaultRelease, CowDiskImage, PciVirtIO, RawDiskImage, VExpress_GEM5_Base,
    VExpress_GEM5_Foundation, VirtIOBlock,
)

from ...isas import ISA
from .abstract_board import AbstractBoard
from .kernel_disk_workload import KernelDiskWorkload


class ArmBoard(AbstractBoard, KernelDiskWorkload):
    def __init__(self, clk_freq: str, processor, memory, cache_hierarchy,
                 platform: VExpress_GEM5_Base = VExpress_GEM5_Foundation(),
                 release=ArmDefaultRelease()) -> None:
        self._platform = platform
        self._release = release
        super().__init__(clk_freq=clk_freq, processor=processor, memory=memory,
                         cache_hierarchy=cache_hierarchy)
        if processor.get_isa() != ISA.ARM:
            raise Exception("The ArmBoard requires a processor using the ARM ISA.")
        self._pci_devices = []

    def get_disk_device(self):
        return "/dev/vda"

    def _add_disk_to_board(self, disk_image):
        self._image = CowDiskImage(
            child=RawDiskImage(read_only=True, image_file=disk_image.get_local_path()),
            read_only=False)
        self._pci_devices.append(PciVirtIO(vio=VirtIOBlock(image=self._image)))

    def _pre_instantiate(self):
        self.pci_devices = self._pci_devices

    def get_default_kernel_args(self) -> List[str]:
        return [
            "console=ttyAMA0",
            "lpj=19988480",
            "norandmaps",
            "root={root_value}",
            "disk_device={disk_device}",
            "rw",
            f"mem={self.get_memory().get_size()}",
        ]
