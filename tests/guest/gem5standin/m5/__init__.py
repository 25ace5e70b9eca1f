# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: the m5 module (options, instantiate, simulate, checkpoint).

instantiate() starts the QEMU machine of _standin.machine (restoring a
checkpoint when given one); simulate() runs it to the guest's next m5 op that
is an exit event; checkpoint() writes the checkpoint directory.
"""
import types

from _standin.api import v25

from . import objects, stats, ticks, util  # noqa: F401

MaxTick = 2**64 - 1
options = types.SimpleNamespace(outdir="m5out")
if v25():
    options.show_exit_event_messages = False
_machine = None


def instantiate(ckpt_dir=None):
    global _machine
    from _standin.machine import Machine
    root = objects.Root.getInstance()
    if root is None:
        raise RuntimeError("m5.instantiate() without a Root")
    _machine = Machine(root, options.outdir)
    _machine.start(ckpt_dir)


def simulate(max_ticks=MaxTick):
    if _machine is None:
        raise RuntimeError("m5.simulate() before m5.instantiate()")
    return _machine.simulate()


def checkpoint(dir):
    _machine.checkpoint(dir)


def curTick():
    return _machine.tick() if _machine else 0


def _shutdown():
    if _machine:
        _machine.shutdown()
