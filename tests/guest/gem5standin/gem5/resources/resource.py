# SPDX-License-Identifier: BSD-3-Clause
"""gem5 stand-in: gem5.resources.resource (v24.0 constructors; like gem5's,
they take **kwargs, and a local_path that is not a file/directory raises).
"""
import os
from typing import Optional


class AbstractResource:
    def __init__(self, id: Optional[str] = None, resource_version: Optional[str] = None,
                 local_path: Optional[str] = None, description: Optional[str] = None,
                 source: Optional[str] = None, downloader=None) -> None:
        self._local_path = local_path

    def get_local_path(self) -> Optional[str]:
        return self._local_path


class FileResource(AbstractResource):
    def __init__(self, local_path: str, id: Optional[str] = None,
                 resource_version: Optional[str] = None, description: Optional[str] = None,
                 source: Optional[str] = None, downloader=None, **kwargs) -> None:
        if not os.path.isfile(local_path):
            raise Exception(f"FileResource path specified, '{local_path}', is not a file.")
        super().__init__(local_path=local_path, id=id, resource_version=resource_version,
                         description=description, source=source, downloader=downloader)


class DirectoryResource(AbstractResource):
    def __init__(self, local_path: str, id: Optional[str] = None,
                 resource_version: Optional[str] = None, description: Optional[str] = None,
                 source: Optional[str] = None, downloader=None, **kwargs) -> None:
        if not os.path.isdir(local_path):
            raise Exception(f"DirectoryResource path specified, {local_path}, is not a "
                            f"directory.")
        super().__init__(local_path=local_path, id=id, resource_version=resource_version,
                         description=description, source=source, downloader=downloader)


class DiskImageResource(FileResource):
    def __init__(self, local_path: str, id: Optional[str] = None,
                 resource_version: Optional[str] = None, description: Optional[str] = None,
                 source: Optional[str] = None, downloader=None,
                 root_partition: Optional[str] = None, **kwargs) -> None:
        super().__init__(local_path=local_path, id=id, resource_version=resource_version,
                         description=description, source=source, downloader=downloader)
        self._root_partition = root_partition

    def get_root_partition(self) -> Optional[str]:
        return self._root_partition


class BinaryResource(FileResource):
    def __init__(self, local_path: str, id: Optional[str] = None,
                 resource_version: Optional[str] = None, description: Optional[str] = None,
                 source: Optional[str] = None, downloader=None, architecture=None,
                 **kwargs) -> None:
        super().__init__(local_path=local_path, id=id, resource_version=resource_version,
                         description=description, source=source, downloader=downloader)


class BootloaderResource(BinaryResource):
    pass


class KernelResource(BinaryResource):
    pass


class CheckpointResource(DirectoryResource):
    pass
