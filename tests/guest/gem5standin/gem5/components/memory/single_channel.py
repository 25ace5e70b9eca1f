# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: gem5.components.memory.single_channel (v24.0 signatures).
"""
import re
from typing import Optional


def _bytes(size):
    m = re.fullmatch(r"\s*(\d+)\s*([kKMGT]i?B|B)?\s*", size)
    if not m:
        raise ValueError(f"cannot convert '{size}' to a memory size")
    return int(m.group(1)) << {"B": 0, "k": 10, "K": 10, "M": 20, "G": 30, "T": 40}[
        (m.group(2) or "B")[0]]


class _Memory:
    def __init__(self, kind, size):
        self.kind = kind
        self._size = _bytes(size) if size else 8 << 30

    def get_size(self) -> int:
        return self._size


def SingleChannelDDR3_1600(size: Optional[str] = None):
    return _Memory("DDR3_1600_8x8", size)


def SingleChannelDDR3_2133(size: Optional[str] = None):
    return _Memory("DDR3_2133_8x8", size)


def SingleChannelDDR4_2400(size: Optional[str] = None):
    return _Memory("DDR4_2400_8x8", size)
