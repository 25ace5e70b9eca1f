# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: a core (gem5's SimpleCore / BaseCPUCore): .core is the CPU
SimObject, KVM ones with gem5's usePerf parameter.
"""
from m5 import objects

from ...isas import ISA
from .cpu_types import CPUTypes

_CPU = {
    CPUTypes.KVM: ("KvmCPU", objects.BaseKvmCPU),
    CPUTypes.ATOMIC: ("AtomicSimpleCPU", objects.BaseAtomicSimpleCPU),
    CPUTypes.TIMING: ("TimingSimpleCPU", objects.BaseTimingSimpleCPU),
    CPUTypes.O3: ("O3CPU", objects.BaseO3CPU),
    CPUTypes.MINOR: ("MinorCPU", objects.BaseMinorCPU),
}


class SimpleCore:
    def __init__(self, cpu_type: CPUTypes, core_id: int, isa: ISA):
        if not isinstance(cpu_type, CPUTypes):
            raise TypeError(f"cpu_type must be a CPUTypes, not {cpu_type!r}")
        name, cls = _CPU[cpu_type]
        self.core = cls()
        self.core._type = name
        self._cpu_type = cpu_type
        self._isa = isa
        self.core_id = core_id

    def is_kvm_core(self) -> bool:
        return self._cpu_type == CPUTypes.KVM

    def get_type(self) -> CPUTypes:
        return self._cpu_type

    def get_isa(self) -> ISA:
        return self._isa

    def get_simobject(self):
        return self.core
