# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: gem5.components.processors.simple_processor (v24.0 signature).
"""
from ...isas import ISA
from .cpu_types import CPUTypes
from .simple_core import SimpleCore


class SimpleProcessor:
    def __init__(self, cpu_type: CPUTypes, num_cores: int, isa: ISA) -> None:
        if num_cores <= 0:
            raise AssertionError("Number of cores must be a positive integer!")
        if not isinstance(isa, ISA):
            raise TypeError(f"isa must be an ISA, not {isa!r}")
        self._isa = isa
        self.cores = [SimpleCore(cpu_type=cpu_type, core_id=i, isa=isa)
                      for i in range(num_cores)]

    def get_cores(self):
        return self.cores

    def get_num_cores(self) -> int:
        return len(self.cores)

    def get_isa(self) -> ISA:
        return self._isa

    def _core_groups(self):
        return [("cores", self.cores)]
