# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: gem5.simulate.exit_event (v24.0 values and the exit causes
that translate to them).
"""
from enum import Enum


class ExitEvent(Enum):
    EXIT = "exit"
    WORKBEGIN = "workbegin"
    WORKEND = "workend"
    SPATTER_EXIT = "spatter exit"
    SWITCHCPU = "switchcpu"
    FAIL = "fail"
    CHECKPOINT = "checkpoint"
    SCHEDULED_TICK = "scheduled tick exit"
    MAX_TICK = "max tick"
    USER_INTERRUPT = "user interupt"
    SIMPOINT_BEGIN = "simpoint begins"
    MAX_INSTS = "number of instructions reached"
    KERNEL_PANIC = "kernel panic in simulated system"
    KERNEL_OOPS = "kernel oops in simulated system"

    @classmethod
    def translate_exit_status(cls, exit_string: str) -> "ExitEvent":
        table = {
            "m5_workbegin instruction encountered": cls.WORKBEGIN,
            "workbegin": cls.WORKBEGIN,
            "m5_workend instruction encountered": cls.WORKEND,
            "workend": cls.WORKEND,
            "m5_exit instruction encountered": cls.EXIT,
            "exiting with last active thread context": cls.EXIT,
            "simulate() limit reached": cls.MAX_TICK,
            "Tick exit reached": cls.SCHEDULED_TICK,
            "switchcpu": cls.SWITCHCPU,
            "m5_fail instruction encountered": cls.FAIL,
            "checkpoint": cls.CHECKPOINT,
            "user interrupt received": cls.USER_INTERRUPT,
            "Kernel panic in simulated system.": cls.KERNEL_PANIC,
            "Kernel oops in simulated system.": cls.KERNEL_OOPS,
        }
        if exit_string in table:
            return table[exit_string]
        raise NotImplementedError(f"Exit event '{exit_string}' not implemented")
