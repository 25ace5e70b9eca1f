"""gem5 stand-in: _m5.core (the version string the stand-in poses as).
SPDX-License-Identifier: BSD-3-Clause
"""
import os

gem5Version = os.environ.get("HACKBACK_STANDIN_VERSION", "24.0.0.1")
