# SPDX-License-Identifier: BSD-3-Clause
"""Which gem5 Python API the stand-in presents: $HACKBACK_STANDIN_API is
"v24" (default: gem5 v24.0, exit events only) or "v25" (gem5 v25's exit
handlers: gem5.simulate.exit_handler, hypercall ids on exit events, the
Simulator dispatching by hypercall id). Read once, at import.
"""
import os

API = os.environ.get("HACKBACK_STANDIN_API", "v24")
if API not in ("v24", "v25"):
    raise SystemExit(f"gem5-standin: HACKBACK_STANDIN_API={API}: want v24 or v25")


def v25():
    return API == "v25"
