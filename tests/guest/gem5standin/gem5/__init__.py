# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: package gem5.. (see tests/guest/gem5standin/README.md).
"""
