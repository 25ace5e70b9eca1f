# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: gem5.simulate.exit_event_generators, the default behaviours
of the classic exit events (each an endless generator yielding whether the
run ends), and how a user's on_exit_event value becomes a generator.
"""
import inspect
import os
from typing import Generator

import m5
from m5.util import warn


def exit_generator():
    while True:
        yield True


def save_checkpoint_generator(checkpoint_dir=None):
    while True:
        m5.checkpoint(os.path.join(checkpoint_dir or m5.options.outdir, f"cpt.{m5.curTick()}"))
        yield False


def reset_stats_generator():
    while True:
        m5.stats.reset()
        yield False


def dump_stats_generator():
    while True:
        m5.stats.dump()
        yield False


def switch_generator(processor):
    while True:
        processor.switch()
        yield False


def skip_generator():
    while True:
        yield False


def _defaults(board):
    """ExitEvent -> gem5's default generator (v24.0 and v25 agree)."""
    from .exit_event import ExitEvent as E
    return {
        E.EXIT: exit_generator(),
        E.CHECKPOINT: save_checkpoint_generator(),
        E.FAIL: exit_generator(),
        E.SWITCHCPU: switch_generator(board.get_processor()),
        E.WORKBEGIN: reset_stats_generator(),
        E.WORKEND: dump_stats_generator(),
        E.USER_INTERRUPT: exit_generator(),
        E.MAX_TICK: exit_generator(),
        E.SCHEDULED_TICK: exit_generator(),
        E.SIMPOINT_BEGIN: skip_generator(),
        E.MAX_INSTS: exit_generator(),
        E.KERNEL_PANIC: exit_generator(),
        E.KERNEL_OOPS: exit_generator(),
    }


def _user_generators(on_exit_event):
    """on_exit_event's values as generators: a generator as it is, a list of
    callables called one per event, a callable called on every event."""
    out = {}
    for key, value in (on_exit_event or {}).items():
        if isinstance(value, Generator):
            out[key] = value
        elif isinstance(value, list):
            out[key] = (f() for f in value)
        elif callable(value):
            if inspect.isgeneratorfunction(value):
                warn(f"Function passed for '{key.value}' exit event is not a generator "
                     "but a function that returns a generator.")

            def forever(f=value):
                while True:
                    yield f()
            out[key] = forever()
        else:
            raise Exception(f"`on_exit_event` for '{key.value}' event is not a "
                            "Generator or List[Callable].")
    return out


def _next(user, defaults, exit_enum):
    """One classic exit event: the user's generator, else gem5's default
    (also once the user's generator is exhausted). True ends the run."""
    try:
        return next(user[exit_enum])
    except StopIteration:
        warn(f"User-specified generator/function list for the exit event"
             f"'{exit_enum.value}' has ended. Using the default generator.")
        return next(defaults[exit_enum])
    except KeyError:
        return next(defaults[exit_enum])
