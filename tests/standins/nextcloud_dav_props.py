"""The STAND-IN Nextcloud server's file tree (not Nextcloud): WsgiDAV's file system provider
with Nextcloud's `oc:` live properties (id, fileid, size, permissions, checksums, favorite),
and multistatus answers written with Nextcloud's literal prefixes `d:`, `oc:` and `nc:`
(nc-py-api parses the XML without namespaces, so the prefixes must be exactly these)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from wsgidav.dav_error import HTTP_NOT_FOUND, DAVError
from wsgidav.fs_dav_provider import FileResource, FilesystemProvider, FolderResource

from tests.standins.nextcloud_dav_state import FileIds

DAV = "DAV:"
OC = "http://owncloud.org/ns"
NC = "http://nextcloud.org/ns"

# ElementTree writes a registered namespace with its registered prefix (process-wide; these
# are the prefixes every WebDAV client of Nextcloud expects anyway).
ET.register_namespace("d", DAV)
ET.register_namespace("oc", OC)
ET.register_namespace("nc", NC)

FILE_PERMISSIONS = "RGDNVW"
FOLDER_PERMISSIONS = "RGDNVCK"


def tree_size(fs_path: Path) -> int:
    """oc:size of a folder: the size of everything in it."""
    return sum(p.lstat().st_size for p in fs_path.rglob("*") if p.is_file())


def oc_property(name: str, fs_path: Path, ids: FileIds) -> Any:
    """The value of a Nextcloud live property of the file or folder at fs_path, or None if it
    has none (an element for oc:checksums)."""
    st = fs_path.stat()
    is_dir = stat.S_ISDIR(st.st_mode)
    fileid = ids.fileid(fs_path)
    if name == f"{{{OC}}}fileid":
        return str(fileid)
    if name == f"{{{OC}}}id":
        return ids.oc_id(fileid)
    if name == f"{{{OC}}}size":
        return str(tree_size(fs_path) if is_dir else st.st_size)
    if name == f"{{{OC}}}permissions":
        return FOLDER_PERMISSIONS if is_dir else FILE_PERMISSIONS
    if name == f"{{{OC}}}favorite":
        return "0"
    if name == f"{{{OC}}}checksums" and not is_dir:
        element = ET.Element(name)
        checksum = ids.checksum(fileid)
        if checksum:
            ET.SubElement(element, f"{{{OC}}}checksum").text = checksum
        return element
    return None


class _OcProps:
    """Adds the oc: live properties to a WsgiDAV file system resource."""

    _file_path: str
    provider: Any

    def get_property_value(self, name: str) -> Any:
        if name.startswith(f"{{{OC}}}") or name.startswith(f"{{{NC}}}"):
            value = oc_property(name, Path(self._file_path), self.provider.ids)
            if value is None:
                raise DAVError(HTTP_NOT_FOUND)
            return value
        return super().get_property_value(name)  # type: ignore[misc]


class NcFile(_OcProps, FileResource):  # type: ignore[misc]
    pass


class NcFolder(_OcProps, FolderResource):  # type: ignore[misc]
    def get_etag(self) -> str:
        """Nextcloud gives folders an etag too (here: it changes when the folder's own
        entries change)."""
        st = Path(self._file_path).stat()
        return f"{st.st_ino:x}-{st.st_mtime_ns:x}"

    def get_content_type(self) -> str:
        return "httpd/unix-directory"


class NextcloudProvider(FilesystemProvider):  # type: ignore[misc]
    """A folder served the way Nextcloud serves a user's files (or upload folders)."""

    def __init__(self, root_folder: str, ids: FileIds) -> None:
        super().__init__(root_folder, fs_opts={})
        self.ids = ids

    def get_resource_inst(self, path: str, environ: dict[str, Any]) -> Any:
        fp = Path(self._loc_to_file_path(path, environ))
        if not fp.exists() or fp.is_symlink():
            return None
        if fp.is_dir():
            return NcFolder(path, environ, str(fp))
        return NcFile(path, environ, str(fp))

    @property
    def root(self) -> Path:
        return Path(self.root_folder_path)

    def fs_path(self, path: str) -> Path:
        """The file system path of a resource path below this provider's share."""
        return Path(self._loc_to_file_path(path))

    def resource_path(self, fs_path: Path) -> str:
        """The resource path (below the share) of a file system path in it."""
        rel = fs_path.relative_to(self.root).as_posix()
        return "/" if rel == "." else "/" + rel
