"""Free text in the CSV and TSV files stf writes, made safe to open in a
spreadsheet.

A spreadsheet takes a cell that starts with = + - @ (or a TAB or carriage
return) for a formula; a label or connection id from another tool's file
could run one on the analyst's machine. Such a cell is written with a "'"
before it, which spreadsheets show as text, and stf's readers take it away
again. Cells that already start with quotes before such a character get one
more, so that reading gives back exactly what was written.
"""
import re

FORMULA_START = re.compile(r"'*[=+\-@\t\r]")
GUARDED = re.compile(r"'+[=+\-@\t\r]")


def guarded(text):
    """The cell as written to a file."""
    return "'" + text if FORMULA_START.match(text) else text


def unguarded(text):
    """The cell as it was before guarded()."""
    return text[1:] if GUARDED.match(text) else text
