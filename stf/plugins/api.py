"""What a plugin uses of stf (docs/plugins.md): the command record, the
results a handler returns, the error for bad input, pictures, and its own
persistent storage."""
from BTrees.OOBTree import OOBTree  # noqa: F401
from persistent import Persistent  # noqa: F401

from stf.commands.registry import Action, Command, Flag  # noqa: F401
from stf.commands.results import (Exact, Fields, Message, Plot, Several, Table,  # noqa: F401
                                  Text, ok, warning)
from stf.core.errors import UserError  # noqa: F401
from stf.plots.figure import Figure, Panel, Series  # noqa: F401
from stf.plugins.storage import allow, storage  # noqa: F401
