# SPDX-License-Identifier: BSD-3-Clause
"""Internals of the gem5 stand-in (tests/guest/gem5standin): the QEMU machine.
"""
