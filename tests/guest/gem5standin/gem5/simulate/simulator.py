"""gem5 stand-in: gem5.simulate.simulator.Simulator (v24.0 constructor and the
methods hack_back.py uses), with gem5's exit-event dispatch: a handler per
ExitEvent (generator, list of callables or callable), gem5's default when
none is given or the user's generator is exhausted; a handler yielding True
ends run(). Defaults as in v24.0: EXIT, FAIL, MAX_TICK, KERNEL_PANIC end the
run; CHECKPOINT saves to <outdir>/cpt.<tick> and continues; WORKBEGIN resets
the stats, WORKEND dumps them, both continue; SWITCHCPU switches.
SPDX-License-Identifier: BSD-3-Clause
"""
import os
from pathlib import Path
from typing import Callable, Dict, Generator, List, Optional, Union

import m5

from .exit_event import ExitEvent


def _exit_gen():
    while True:
        yield True


def _checkpoint_gen():
    while True:
        m5.checkpoint(os.path.join(m5.options.outdir, f"cpt.{m5.curTick()}"))
        yield False


def _reset_gen():
    while True:
        m5.stats.reset()
        yield False


def _dump_gen():
    while True:
        m5.stats.dump()
        yield False


def _switch_gen(processor):
    while True:
        processor.switch()
        yield False


class Simulator:
    def __init__(
        self,
        board,
        full_system: Optional[bool] = None,
        on_exit_event: Optional[
            Dict[ExitEvent, Union[Generator[Optional[bool], None, None], List[Callable],
                                  Callable]]
        ] = None,
        expected_execution_order: Optional[List[ExitEvent]] = None,
        checkpoint_path: Optional[Path] = None,
        max_ticks: Optional[int] = m5.MaxTick,
        id: Optional[int] = None,
    ) -> None:
        self._board = board
        self._defaults = {
            ExitEvent.EXIT: _exit_gen(),
            ExitEvent.CHECKPOINT: _checkpoint_gen(),
            ExitEvent.FAIL: _exit_gen(),
            ExitEvent.SWITCHCPU: _switch_gen(board.get_processor()),
            ExitEvent.WORKBEGIN: _reset_gen(),
            ExitEvent.WORKEND: _dump_gen(),
            ExitEvent.USER_INTERRUPT: _exit_gen(),
            ExitEvent.MAX_TICK: _exit_gen(),
            ExitEvent.SCHEDULED_TICK: _exit_gen(),
            ExitEvent.KERNEL_PANIC: _exit_gen(),
            ExitEvent.KERNEL_OOPS: _exit_gen(),
        }
        self._on_exit_event = {}
        for key, value in (on_exit_event or {}).items():
            if isinstance(value, Generator):
                self._on_exit_event[key] = value
            elif isinstance(value, list):
                self._on_exit_event[key] = (f() for f in value)
            elif callable(value):
                def forever(f=value):
                    while True:
                        yield f()
                self._on_exit_event[key] = forever()
            else:
                raise Exception(f"`on_exit_event` for '{key.value}' event is not a "
                                "Generator or List[Callable].")
        self._checkpoint_path = checkpoint_path
        self._instantiated = False
        self._last_exit_event = None
        self._exit_event_count = 0
        self._tick_stopwatch = []

    def _instantiate(self):
        if self._instantiated:
            return
        self._board._pre_instantiate()
        root = m5.objects.Root(full_system=True, board=self._board)
        self._root = root
        ckpt = self._board._checkpoint
        m5.instantiate(ckpt.as_posix() if ckpt else self._checkpoint_path)
        self._instantiated = True
        self._board._post_instantiate()

    def run(self, max_ticks: Optional[int] = None) -> None:
        self._instantiate()
        while True:
            self._last_exit_event = m5.simulate()
            exit_enum = ExitEvent.translate_exit_status(self.get_last_exit_event_cause())
            self._tick_stopwatch.append((exit_enum, self.get_current_tick()))
            try:
                done = next(self._on_exit_event[exit_enum])
            except StopIteration:
                print(f"warn: User-specified generator/function list for the exit "
                      f"event'{exit_enum.value}' has ended. Using the default generator.")
                done = next(self._defaults[exit_enum])
            except KeyError:
                done = next(self._defaults[exit_enum])
            self._exit_event_count += 1
            if done:
                return

    def save_checkpoint(self, checkpoint_dir: Path) -> None:
        m5.checkpoint(str(checkpoint_dir))

    def get_last_exit_event_cause(self) -> str:
        return self._last_exit_event.getCause()

    def get_last_exit_event_code(self) -> int:
        return self._last_exit_event.getCode()

    def get_current_tick(self) -> int:
        return m5.curTick()

    def get_tick_stopwatch(self):
        return self._tick_stopwatch
