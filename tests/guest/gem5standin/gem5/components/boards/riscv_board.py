# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: RiscvBoard (v24.0 constructor): the disk is
board.disk.vio.image = CowDiskImage(child=RawDiskImage(read_only=True),
read_only=False), /dev/vda, console ttyS0.
"""
from typing import List

from m5.objects import CowDiskImage, RawDiskImage, RiscvMmioVirtIO, VirtIOBlock

from ...isas import ISA
from .abstract_board import AbstractBoard
from .kernel_disk_workload import KernelDiskWorkload


class RiscvBoard(AbstractBoard, KernelDiskWorkload):
    def __init__(self, clk_freq: str, processor, memory, cache_hierarchy) -> None:
        super().__init__(clk_freq, processor, memory, cache_hierarchy)
        if processor.get_isa() != ISA.RISCV:
            raise Exception("The RISCVBoard requires a processor using the RISCV ISA. "
                            f"Current processor ISA: '{processor.get_isa().name}'.")

    def _setup_board(self) -> None:
        self.disk = RiscvMmioVirtIO(vio=VirtIOBlock(), interrupt_id=0x8, pio_size=4096,
                                    pio_addr=0x10008000)

    def get_disk_device(self):
        return "/dev/vda"

    def _add_disk_to_board(self, disk_image):
        image = CowDiskImage(child=RawDiskImage(read_only=True), read_only=False)
        image.child.image_file = disk_image.get_local_path()
        self.disk.vio.image = image

    def get_default_kernel_args(self) -> List[str]:
        return [
            "console=ttyS0",
            "root={root_value}",
            "disk_device={disk_device}",
            "rw",
        ]
