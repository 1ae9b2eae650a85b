"""Editing text in the user's $EDITOR."""
import os
import shlex
import subprocess
import tempfile

from stf.core.errors import UserError


def edit_text(text, suffix='.md'):
    """Open text in $VISUAL/$EDITOR (vi by default) and return the result.

    An editor that fails or exits non-zero leaves the text as it was.
    """
    editor = os.environ.get('VISUAL') or os.environ.get('EDITOR') or 'vi'
    with tempfile.NamedTemporaryFile('w', suffix=suffix, delete=False) as handle:
        handle.write(text)
        path = handle.name
    try:
        try:
            status = subprocess.call([*shlex.split(editor), path])
        except OSError as error:
            raise UserError(f'cannot start the editor {editor!r}: {error.strerror}; '
                            'set EDITOR, or give the text with --text') from None
        if status != 0:
            raise UserError(f'the editor {editor!r} exited with status {status}; '
                            'the note is unchanged')
        with open(path) as handle:
            return handle.read()
    finally:
        os.unlink(path)
