# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: m5.stats (reset and dump are counted, nothing more).
"""
counts = {"reset": 0, "dump": 0}


def reset():
    counts["reset"] += 1
    print("gem5-standin: stats reset", flush=True)


def dump():
    counts["dump"] += 1
    print("gem5-standin: stats dump", flush=True)
