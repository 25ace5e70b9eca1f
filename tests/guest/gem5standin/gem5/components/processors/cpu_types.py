# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: gem5.components.processors.cpu_types.
"""
from enum import Enum


class CPUTypes(Enum):
    ATOMIC = "atomic"
    KVM = "kvm"
    O3 = "o3"
    TIMING = "timing"
    MINOR = "minor"
