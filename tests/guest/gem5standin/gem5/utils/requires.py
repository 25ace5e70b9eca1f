# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: gem5.utils.requires (v24.0 signature). The stand-in is
built for every ISA; KVM is QEMU's business (TCG by default), so nothing here
refuses.
"""
from typing import Optional

from ..isas import ISA


def requires(
    isa_required: Optional[ISA] = None,
    coherence_protocol_required=None,
    kvm_required: bool = False,
) -> None:
    if isa_required is not None and not isinstance(isa_required, ISA):
        raise TypeError(f"isa_required must be an ISA, not {isa_required!r}")
