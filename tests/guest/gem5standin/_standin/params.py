# SPDX-License-Identifier: BSD-3-Clause
"""SimObject-like parameter checking for the gem5 stand-in's m5.objects.

gem5 refuses a parameter a SimObject does not have, in the constructor and on
assignment ("Class CowDiskImage has no parameter imagefile"): so does this.
"""


class SimObject:
    _params = {}            # name -> default

    def __init__(self, **kwargs):
        for k, v in type(self)._all_params().items():
            object.__setattr__(self, k, v)
        for k, v in kwargs.items():
            setattr(self, k, v)

    @classmethod
    def _all_params(cls):
        out = {}
        for c in reversed(cls.__mro__):
            out.update(getattr(c, "_params", {}))
        return out

    def __setattr__(self, name, value):
        if not name.startswith("_") and name not in type(self)._all_params() \
                and not isinstance(value, (SimObject, list)):
            raise AttributeError(f"Class {type(self).__name__} has no parameter {name}")
        object.__setattr__(self, name, value)
