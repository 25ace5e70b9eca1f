# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: PrivateL1PrivateL2CacheHierarchy (v24.0 signature).
"""
from typing import Optional


class PrivateL1PrivateL2CacheHierarchy:
    def __init__(self, l1d_size: str, l1i_size: str, l2_size: str,
                 membus: Optional[object] = None) -> None:
        self.sizes = (l1d_size, l1i_size, l2_size)
