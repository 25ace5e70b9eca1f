# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: _m5.core (the version string the stand-in poses as: that of
the API it presents, or $HACKBACK_STANDIN_VERSION).
"""
import os

from _standin.api import v25

gem5Version = os.environ.get("HACKBACK_STANDIN_VERSION", "25.0.0.1" if v25() else "24.0.0.1")
