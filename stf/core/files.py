"""Files written whole or not at all."""
import os

from stf.core.errors import UserError


def replace_whole(path, write):
    """write(partial) writes the file at partial, a name beside path, which
    then takes path's place: a write refused part-way (or Ctrl-C) leaves no
    half file. OSError is one line naming path."""
    partial = path.with_name(f'.{path.name}.partial')
    try:
        write(partial)
        os.replace(partial, path)
    except OSError as error:
        raise UserError(f'cannot write {path}: {error.strerror}; choose another file') from None
    finally:
        if partial.exists():
            partial.unlink()
