# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: gem5.simulate.exit_handler, gem5 v25's exit handlers.
Present only when the stand-in poses as v25 ($HACKBACK_STANDIN_API=v25);
otherwise importing it fails as it does on gem5 v24.0.

Each exit of the simulation loop carries a hypercall id; the Simulator builds
the ExitHandler subclass registered for that id (one per id, the last
registration wins) with the exit's payload and calls handle(simulator): True
ends the run. A class registers itself by its class keyword
(`class H(ExitHandler, hypercall_num=N)`, or inherits the id of the
registered handler it subclasses); register_exit_handler(N, func,
description) makes such a class around func(simulator, payload) -> bool.
Defaults, as in gem5 v25: 0 the classic m5 ops (on_exit_event's generators),
1 kernel booted and 2 after_boot started continue, 3 after_boot finished
ends the run, 4 work begin resets and 5 work end dumps the stats (both
continue), 6 a scheduled exit ends the run, 7 saves a checkpoint and
continues.
"""
from _standin.api import v25

if not v25():
    raise ModuleNotFoundError("No module named 'gem5.simulate.exit_handler'",
                              name="gem5.simulate.exit_handler")

from abc import ABCMeta, abstractmethod  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List, Optional, Type  # noqa: E402

import m5  # noqa: E402

from .exit_event import ExitEvent  # noqa: E402
from .exit_event_generators import _defaults, _next, _user_generators  # noqa: E402


class ExitHandlerMeta(ABCMeta):
    """Registers every ExitHandler subclass under its hypercall id."""

    def __new__(mcs, name, bases, attrs, hypercall_num: int = None):
        cls = super().__new__(mcs, name, bases, attrs)
        if name == "ExitHandler" and not any(isinstance(b, ExitHandlerMeta) for b in bases):
            return cls
        if hypercall_num is None:
            for b in bases:
                if isinstance(b, ExitHandlerMeta) and b._handler_id is not None:
                    hypercall_num = b._handler_id
                    break
        if hypercall_num is None:
            raise AssertionError(f"Hypercall number must be provided for {name}")
        ExitHandler._handler_map[hypercall_num] = cls
        cls._handler_id = hypercall_num
        return cls


class ExitHandler(metaclass=ExitHandlerMeta):
    _handler_map: Dict[int, Type["ExitHandler"]] = {}
    _handler_id: Optional[int] = None

    @classmethod
    def get_handler_id(cls) -> int:
        return cls._handler_id

    @classmethod
    def get_handler_map(cls) -> Dict[int, Type["ExitHandler"]]:
        return cls._handler_map

    def __init__(self, payload: Dict[str, str]) -> None:
        self._payload = payload

    def handle(self, simulator) -> bool:
        self._process(simulator)
        return self._exit_simulation()

    def get_handler_description(self) -> str:
        return f"Exit Handler {type(self).__name__} called."

    @abstractmethod
    def _process(self, simulator) -> None:
        raise NotImplementedError

    @abstractmethod
    def _exit_simulation(self) -> bool:
        raise NotImplementedError


def register_exit_handler(hypercall_num: int, func: Callable, description: str):
    """Registers (and returns) a handler for hypercall_num that calls
    func(simulator, payload); its result decides whether the run ends."""

    class FunctionExitHandler(ExitHandler, hypercall_num=hypercall_num):
        def __init__(self, payload):
            super().__init__(payload)
            self._end = False

        def get_handler_description(self):
            return description

        def _process(self, simulator):
            self._end = func(simulator, self._payload)

        def _exit_simulation(self):
            return self._end

    return FunctionExitHandler


def _fixed(name, num, description, end, action=None):
    """A default handler class: action(simulator), then end or continue."""
    def _process(self, simulator):
        if action:
            action(simulator)
    body = {
        "__module__": __name__,
        "__qualname__": name,
        "get_handler_description": lambda self: description,
        "_process": _process,
        "_exit_simulation": lambda self: end,
    }
    return ExitHandlerMeta(name, (ExitHandler,), body, hypercall_num=num)


def _checkpoint(simulator):
    d = simulator._checkpoint_path or m5.options.outdir
    m5.checkpoint((Path(d) / f"cpt.{m5.curTick()}").as_posix())


KernelBootedExitHandler = _fixed("KernelBootedExitHandler", 1, "Kernel booted.", False)
AfterBootExitHandler = _fixed("AfterBootExitHandler", 2, "Started `after_boot.sh` script.",
                              False)
AfterBootScriptExitHandler = _fixed("AfterBootScriptExitHandler", 3,
                                    "Finished `after_boot.sh` script.", True)
WorkBeginExitHandler = _fixed("WorkBeginExitHandler", 4,
                              "Started executing Region of Interest (ROI).", False,
                              lambda s: m5.stats.reset())
WorkEndExitHandler = _fixed("WorkEndExitHandler", 5,
                            "Finished executing Region of Interest (ROI).", False,
                            lambda s: m5.stats.dump())
ScheduledExitEventHandler = _fixed("ScheduledExitEventHandler", 6, "Scheduled exit.", True)
CheckpointExitHandler = _fixed("CheckpointExitHandler", 7, "Checkpoint.", False, _checkpoint)


class ClassicGeneratorExitHandler(ExitHandler, hypercall_num=0):
    """Hypercall 0, the classic m5 ops (m5 exit, fail, checkpoint, workbegin,
    ...): dispatched by ExitEvent to the Simulator's on_exit_event, as
    before v25."""

    _user: Dict = {}
    _defaults: Dict = {}
    _expected_execution_order: Optional[List[ExitEvent]] = None

    def __init__(self, payload):
        super().__init__(payload)
        self._end = None

    @classmethod
    def set_exit_event_map(cls, on_exit_event, expected_execution_order, board) -> None:
        cls._defaults = _defaults(board)
        cls._user = _user_generators(on_exit_event)
        cls._expected_execution_order = expected_execution_order

    def _process(self, simulator):
        exit_enum = ExitEvent.translate_exit_status(simulator.get_last_exit_event_cause())
        order = self._expected_execution_order
        if order and exit_enum != order[simulator._exit_event_count]:
            raise Exception(f"Expected a '{order[simulator._exit_event_count].value}' exit "
                            f"event but a '{exit_enum.value}' exit event was encountered.")
        simulator._tick_stopwatch.append((exit_enum, simulator.get_current_tick()))
        self._end = _next(self._user, self._defaults, exit_enum)

    def _exit_simulation(self):
        assert self._end is not None, "Exit on completion boolean var is not set."
        return self._end
