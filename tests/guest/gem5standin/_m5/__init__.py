# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: the C++ side's Python module (only what hack_back.py reads).
"""
