# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: gem5.simulate.simulator.Simulator (the v24.0 constructor,
which v25 keeps, and the methods hack_back.py uses), with gem5's exit-event
dispatch: a handler per ExitEvent (generator, list of callables or callable),
gem5's default when none is given or the user's generator is exhausted; a
handler yielding True ends run(). Defaults: EXIT, FAIL, MAX_TICK,
KERNEL_PANIC end the run; CHECKPOINT saves to <outdir>/cpt.<tick> and
continues; WORKBEGIN resets the stats, WORKEND dumps them, both continue;
SWITCHCPU switches.

Posing as v25 ($HACKBACK_STANDIN_API=v25), run() dispatches each exit by its
hypercall id to gem5.simulate.exit_handler's registered handlers (id 0, the
classic m5 ops, to the on_exit_event generators above; an id without a
handler is warned about and the run goes on), and get_hypercall_id() and
get_exit_handler_id_map() exist.
"""
from pathlib import Path
from typing import Callable, Dict, Generator, List, Optional, Union

import m5
from m5.util import warn

from _standin.api import v25

from .exit_event import ExitEvent
from .exit_event_generators import _defaults, _next, _user_generators


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
        self._checkpoint_path = checkpoint_path
        self._instantiated = False
        self._last_exit_event = None
        self._exit_event_count = 0
        self._tick_stopwatch = []
        if v25():
            from .exit_handler import ClassicGeneratorExitHandler
            ClassicGeneratorExitHandler.set_exit_event_map(on_exit_event,
                                                           expected_execution_order, board)
            self._exit_event_id_log = {}
        else:
            self._defaults = _defaults(board)
            self._on_exit_event = _user_generators(on_exit_event)

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
            if v25():
                done = self._handle_v25()
                if done is None:
                    continue
            else:
                exit_enum = ExitEvent.translate_exit_status(self.get_last_exit_event_cause())
                self._tick_stopwatch.append((exit_enum, self.get_current_tick()))
                done = _next(self._on_exit_event, self._defaults, exit_enum)
            self._exit_event_count += 1
            if done:
                return

    def _handle_v25(self):
        hid = self._last_exit_event.getHypercallId()
        handlers = self.get_exit_handler_id_map()
        if hid not in handlers:
            warn(f"Warning: Exit event type ID {hid} not in exit handler ID map. "
                 "Reentering simulation loop.")
            return None
        handler = handlers[hid](self._last_exit_event.getPayload())
        if getattr(m5.options, "show_exit_event_messages", False):
            print(f"Exit event: {handler.get_handler_description()} called at tick "
                  f"{self.get_current_tick()}")
        done = handler.handle(self)
        self._exit_event_id_log[self.get_current_tick()] = handler.get_handler_description()
        return done

    if v25():
        def get_hypercall_id(self) -> int:
            return self._last_exit_event.getHypercallId()

        def get_exit_handler_id_map(self):
            from .exit_handler import ExitHandler
            return ExitHandler.get_handler_map()

        def get_exit_event_id_log(self):
            return self._exit_event_id_log

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
