# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: the m5.objects hack_back.py and the stdlib boards use, with
gem5 v24.0's parameter names (an unknown one raises AttributeError as gem5's
SimObjects do).
"""
from _standin.params import SimObject


class DiskImage(SimObject):
    _params = {"image_file": "", "read_only": False}


class RawDiskImage(DiskImage):
    pass


class CowDiskImage(DiskImage):
    _params = {"child": None, "table_size": 65536}


class IdeDisk(SimObject):
    _params = {"image": None, "driveID": "device0", "delay": "1us"}


class VirtIOBlock(SimObject):
    _params = {"image": None}


class PciVirtIO(SimObject):
    _params = {"vio": None}


class MmioVirtIO(SimObject):
    _params = {"vio": None, "pio_addr": 0, "pio_size": 4096, "interrupt_id": 0}


class RiscvMmioVirtIO(SimObject):
    _params = {"vio": None, "pio_addr": 0, "pio_size": 4096, "interrupt_id": 0}


class BaseKvmCPU(SimObject):
    _params = {"usePerf": True, "useCoalescedMMIO": False}


class BaseAtomicSimpleCPU(SimObject):
    _params = {}


class BaseTimingSimpleCPU(SimObject):
    _params = {}


class BaseO3CPU(SimObject):
    _params = {}


class BaseMinorCPU(SimObject):
    _params = {}


class ArmRelease(SimObject):
    _params = {"extensions": []}

    @classmethod
    def for_kvm(cls):
        return cls()


class ArmDefaultRelease(ArmRelease):
    pass


class VExpress_GEM5_Base(SimObject):
    _params = {}


class VExpress_GEM5_V1(VExpress_GEM5_Base):
    pass


class VExpress_GEM5_Foundation(VExpress_GEM5_Base):
    pass


class KvmVM(SimObject):
    _params = {}


class Root(SimObject):
    _params = {"full_system": False, "board": None, "sim_quantum": 0,
               "time_sync_enable": False, "eventq_index": 0}
    _instance = None

    def __init__(self, **kwargs):
        if Root._instance is not None:
            raise RuntimeError("Attempt to allocate multiple instances of Root.")
        super().__init__(**kwargs)
        Root._instance = self

    @classmethod
    def getInstance(cls):
        return cls._instance
