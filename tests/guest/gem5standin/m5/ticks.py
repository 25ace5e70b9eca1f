"""gem5 stand-in: m5.ticks.
SPDX-License-Identifier: BSD-3-Clause
"""


def fixGlobalFrequency():
    pass


def fromSeconds(value):
    return int(value * 1e12)
