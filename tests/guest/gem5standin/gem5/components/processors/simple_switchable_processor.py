# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: gem5.components.processors.simple_switchable_processor
(v24.0 signature). Its SimObject names are board.processor.start<i> and
switch<i>, so its checkpoints restore only on a switchable processor. The
QEMU machine keeps running the same vCPUs when it switches.
"""
from ...isas import ISA
from .cpu_types import CPUTypes
from .simple_core import SimpleCore


class SimpleSwitchableProcessor:
    def __init__(
        self,
        starting_core_type: CPUTypes,
        switch_core_type: CPUTypes,
        num_cores: int,
        isa: ISA = None,
    ) -> None:
        if num_cores <= 0:
            raise AssertionError("Number of cores must be a positive integer!")
        self._isa = isa
        self._cores = {
            "start": [SimpleCore(cpu_type=starting_core_type, core_id=i, isa=isa)
                      for i in range(num_cores)],
            "switch": [SimpleCore(cpu_type=switch_core_type, core_id=i, isa=isa)
                       for i in range(num_cores)],
        }
        self._current_is_start = True
        self.switches = 0

    def get_cores(self):
        return self._cores["start" if self._current_is_start else "switch"]

    def _all_cores(self):
        return self._cores["start"] + self._cores["switch"]

    def get_num_cores(self) -> int:
        return len(self._cores["start"])

    def get_isa(self) -> ISA:
        return self._isa

    def switch(self):
        self._current_is_start = not self._current_is_start
        self.switches += 1
        print(f"gem5-standin: processor switched to the "
              f"{'start' if self._current_is_start else 'switch'} cores", flush=True)

    def _core_groups(self):
        return list(self._cores.items())
