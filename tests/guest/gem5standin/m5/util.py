# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: m5.util's messages.
"""
import sys


def warn(msg, *args):
    print("warn: " + (msg % args if args else msg), file=sys.stderr, flush=True)


def inform(msg, *args):
    print("info: " + (msg % args if args else msg), flush=True)
