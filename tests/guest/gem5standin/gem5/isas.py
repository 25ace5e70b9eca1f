# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: gem5.isas.
"""
from enum import Enum


class ISA(Enum):
    X86 = "x86"
    RISCV = "riscv"
    ARM = "arm"
    MIPS = "mips"
    POWER = "power"
    SPARC = "sparc"
    NULL = "null"
