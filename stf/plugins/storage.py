"""A plugin's persistent data: its own BTree under the database's root, and
the classes it registers to keep there.

root['plugins'] (an OOBTree) holds one OOBTree per plugin name, each created
on first use inside the running command's transaction: saved with the
command, gone with it when the command fails. What a plugin keeps there must
be read back by stf's guarded unpickler (stf.db.classes): plain values,
BTrees, datetimes and the classes the plugin registers with allow().
"""
import sys

from BTrees.OOBTree import OOBTree

from stf.core.errors import UserError
from stf.db import classes

ROOT_KEY = 'plugins'


def storage(app, name):
    """The OOBTree root['plugins'][name], created when first asked for.

    Call it from a command's apply (its transaction); in gather what is
    written is dropped (gather reads and is never saved). A command declared
    uses_database=False has no transaction, hence no storage."""
    if not isinstance(name, str) or not name:
        raise ValueError(f'storage needs the plugin\'s name (a non-empty str), not {name!r}')
    if getattr(app, 'outside_database', False):
        raise UserError(f"the storage '{name}' is out of reach: this command runs without the "
                        'database (uses_database=False)')
    root = app.root
    trees = root.get(ROOT_KEY)
    if trees is None:
        trees = root[ROOT_KEY] = OOBTree()
    tree = trees.get(name)
    if tree is None:
        tree = trees[name] = OOBTree()
    return tree


def allow(cls):
    """Let the database hold objects of cls (a class defined at the top of a
    plugin's module); returns cls, so that it decorates the class. Call it
    when the module is imported, so that every stf that loads the plugin
    (a ZEO server `stf.py --serve` too) can read them back."""
    if not isinstance(cls, type):
        raise TypeError(f'allow takes a class, not {cls!r:.40}')
    # The database names a class by its module and name, and finds it again
    # by importing that module: a class inside a function cannot be found.
    if '.' in cls.__qualname__ or cls.__module__ not in sys.modules:
        raise TypeError(f'allow: {cls.__qualname__} must be defined at the top of a module '
                        'that is imported')
    classes.allow(cls.__module__, cls.__qualname__)
    return cls
