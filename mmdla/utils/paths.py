"""Which paths name files of this machine."""


def is_local_path(path: str) -> bool:
    """Whether ``path`` is a path of the local file system, not the URI of
    a storage backend (``s3://``, ``https://``, ``petrel://``, ...).

    This is MMEngine's rule (a path with a ``scheme://`` prefix goes to the
    backend of its scheme), so that mmdla's checks of files and folders look
    at exactly the paths MMEngine reads from the disk.
    """
    return '://' not in str(path)
