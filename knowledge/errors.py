"""Errors of the knowledge layer; each message is a complete sentence for the user."""


class KBError(Exception):
    """Base: something about a knowledge base the user can act on."""


class KBNotFound(KBError):
    pass


class KBExists(KBError):
    pass


class KBBusy(KBError):
    pass


class InvalidName(KBError):
    pass


class SettingsMismatch(KBError):
    pass


class SchemaError(KBError):
    pass


class DocumentNotFound(KBError):
    pass


class KBDamaged(KBError):
    """kb.sqlite is not a readable SQLite database any more; the message names the KB and the way out."""


class StorageError(KBError):
    """The disk refused a write (full, read-only, I/O error); the KB keeps its last committed state."""
