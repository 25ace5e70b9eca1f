# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: the parts of gem5's AbstractBoard that hack_back.py and the
Simulator use.
"""


class AbstractBoard:
    def __init__(self, clk_freq: str, processor, memory, cache_hierarchy) -> None:
        self.clk_freq = clk_freq
        self.processor = processor
        self.memory = memory
        self.cache_hierarchy = cache_hierarchy
        self._checkpoint = None
        self._is_fs = None
        self.workload = _Workload()
        self._setup_board()

    def get_processor(self):
        return self.processor

    def get_memory(self):
        return self.memory

    def get_cache_hierarchy(self):
        return self.cache_hierarchy

    def _set_fullsystem(self, is_fs: bool) -> None:
        self._is_fs = is_fs

    def is_fullsystem(self) -> bool:
        return bool(self._is_fs)

    def _setup_board(self) -> None:
        pass

    def _pre_instantiate(self):
        pass

    def _post_instantiate(self):
        pass


class _Workload:
    """The board's workload SimObject: kernel file and command line."""

    def __init__(self):
        self.object_file = None
        self.command_line = ""
