# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: m5.ticks.
"""


def fixGlobalFrequency():
    pass


def fromSeconds(value):
    return int(value * 1e12)
