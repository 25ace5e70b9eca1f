# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: KernelDiskWorkload.set_kernel_disk_workload (v24.0 signature
and semantics: `root={root_value}` becomes the board's disk device + the
disk's root partition; readfile_contents is written to a file in the outdir).
"""
import os
from pathlib import Path
from typing import List, Optional, Union

import m5

from ...resources.resource import CheckpointResource, DiskImageResource, KernelResource


class KernelDiskWorkload:
    def get_disk_root_partition(self, disk_image: DiskImageResource) -> Optional[str]:
        return disk_image.get_root_partition()

    def get_default_kernel_root_val(self, disk_image: DiskImageResource) -> str:
        return self.get_disk_device() + (self.get_disk_root_partition(disk_image) or "")

    def set_kernel_disk_workload(
        self,
        kernel: KernelResource,
        disk_image: DiskImageResource,
        bootloader=None,
        disk_device: Optional[str] = None,
        readfile: Optional[str] = None,
        readfile_contents: Optional[str] = None,
        kernel_args: Optional[List[str]] = None,
        exit_on_work_items: bool = True,
        checkpoint: Optional[Union[Path, CheckpointResource]] = None,
    ) -> None:
        self._disk_device = disk_device
        self._set_fullsystem(True)
        self.workload.object_file = kernel.get_local_path()
        self.workload.command_line = (" ".join(kernel_args or self.get_default_kernel_args())
                                      ).format(
            root_value=self.get_default_kernel_root_val(disk_image=disk_image),
            disk_device=self._disk_device or self.get_disk_device(),
        )
        self._bootloader = [bootloader.get_local_path()] if bootloader is not None else []
        if readfile:
            self.readfile = readfile
        elif readfile_contents:
            self.readfile = os.path.join(
                m5.options.outdir,
                "readfile_" + hex(hash(tuple(bytes(readfile_contents, "utf-8")))))
        if readfile_contents:
            with open(self.readfile, "w+") as f:
                f.write(readfile_contents)
        self._add_disk_to_board(disk_image=disk_image)
        self.exit_on_work_items = exit_on_work_items
        if checkpoint:
            if isinstance(checkpoint, Path):
                self._checkpoint = checkpoint
            elif isinstance(checkpoint, CheckpointResource):
                self._checkpoint = Path(checkpoint.get_local_path())
            else:
                raise Exception("Checkpoints must be passed as a Path or an "
                                "CheckpointResource.")
