"""The one place that turns result items into output.

On a terminal: bordered tables, status lines in color, listings taller
or wider than the screen through a pager (less -R -F -X -S). In batch mode:
the same tables, plain text, no colors, no pager; errors go to stderr.
"""
import os
import re
import shutil
import subprocess
import unicodedata

from stf.commands.results import ClearScreen, Fields, Message, Table, Text

COLORS = {'error': '\x1b[31m', 'warning': '\x1b[33m', 'ok': '\x1b[32m', 'info': ''}
RESET = '\x1b[0m'
PREFIX = {'error': 'error: ', 'warning': 'warning: ', 'ok': '', 'info': ''}


# Letters colored by periodicity class: strongly periodic, weakly periodic,
# weakly not periodic, not periodic, not yet known; zeros and timechars dim.
LETTER_COLORS = {**dict.fromkeys('abcdefghi', '32'), **dict.fromkeys('ABCDEFGHI', '36'),
                 **dict.fromkeys('rstuvwxyz', '33'), **dict.fromkeys('RSTUVWXYZ', '31'),
                 **dict.fromkeys('123456789', '35'), **dict.fromkeys('0.,+*', '2')}
COLORED_LETTERS = {char: f'\x1b[{code}m{char}{RESET}' for char, code in LETTER_COLORS.items()}


def colored_letters(state):
    return ''.join(COLORED_LETTERS.get(char, char) for char in state)


def table_text(item, color=False):
    """A bordered table, like prettytable's but built in one pass: listings of
    tens of thousands of models must print in a fraction of a second."""
    rows = visible_rows(item.rows)
    headers = [visible(str(header)) for header in item.headers]
    widths = [max([len(header)] + [len(row[index]) for row in rows])
              for index, header in enumerate(headers)]
    # The last column (often letters, up to tens of thousands) is not padded:
    # padding every row to the longest state would multiply the output.
    widths[-1] = min(widths[-1], max(len(headers[-1]), LAST_COLUMN_RULE))
    column = item.letters_column if color else None
    rule = '+' + '+'.join('-' * (width + 2) for width in widths) + '+'
    lines = [visible(item.title)] if item.title else []
    if rows:
        lines += [rule, table_line(headers, widths), rule]
        lines += [table_line(row, widths, column) for row in rows]
        lines.append(rule)
    else:
        lines.append('(none)')
    if item.footer:
        lines.append(visible(item.footer))
    return '\n'.join(lines)


LAST_COLUMN_RULE = 60


def table_line(cells, widths, letters_column=None):
    padded = [cell.ljust(width) for cell, width in zip(cells, widths)]
    if letters_column is not None:
        # Pad first: the color codes take no room on the screen.
        padded[letters_column] = colored_letters(padded[letters_column])
    end = ' |' if len(cells[-1]) <= widths[-1] else ''
    return '| ' + ' | '.join(padded) + end


def fields_text(item):
    pairs = [(visible(str(key)), visible(str(value))) for key, value in item.pairs]
    width = max((len(key) for key, _ in pairs), default=0)
    lines = [visible(item.title)] if item.title else []
    lines += [f'  {key:<{width}} : {value}' for key, value in pairs]
    return '\n'.join(lines)


def message_text(item, color):
    text = PREFIX[item.level] + visible(item.text)
    if color and COLORS[item.level]:
        return f'{COLORS[item.level]}{text}{RESET}'
    return text


# Control characters (C0, DEL, C1) in names, labels and notes would drive the
# terminal (an ESC sequence recolors or clears the screen, a newline breaks a
# table): they are shown escaped. Files written and JSON keep them as they are.
CONTROLS = re.compile('[\x00-\x1f\x7f-\x9f]')
IN_TEXT = re.compile('[\x00-\x08\x0b-\x1f\x7f-\x9f]')   # keeps TAB and newline
NAMED_ESCAPES = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}


def escaped(match):
    char = match[0]
    return NAMED_ESCAPES.get(char) or f'\\x{ord(char):02x}'


def visible(text):
    """text with every control character escaped ('\\x1b', '\\n', '\\x00')."""
    return CONTROLS.sub(escaped, text)


def visible_text(text):
    """A block of text: newlines and TABs kept, other controls escaped."""
    return IN_TEXT.sub(escaped, text)


def visible_rows(rows):
    """The rows as lists of strings, escaped; one search of all cells finds
    whether there is anything to escape (nearly never)."""
    rows = [['' if value is None else str(value) for value in row] for row in rows]
    if CONTROLS.search(''.join(map(''.join, rows))):
        rows = [list(map(visible, row)) for row in rows]
    return rows


ANSI_CODE = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')


def display_width(line):
    """Columns a line takes on the screen: color codes take none, wide
    (East Asian) characters two."""
    visible = ANSI_CODE.sub('', line)
    return len(visible) + sum(unicodedata.east_asian_width(char) in 'WF' for char in visible
                              if ord(char) > 0x1100)


FORMATTERS = {Table: table_text, Fields: fields_text,
              Text: lambda item: visible_text(item.text)}


class Renderer:
    """Writes result items.

    Attributes: out, err (streams), terminal (colors, pager, clear), pager
    (command name or 'none').
    """

    def __init__(self, out, err, terminal=False, pager='less'):
        self.out = out
        self.err = err
        self.terminal = terminal
        self.pager = pager

    def show(self, items):
        blocks = []
        for item in items:
            if isinstance(item, ClearScreen):
                self.clear()
            elif isinstance(item, Message) and item.level == 'error':
                self.flush(blocks)
                self.err.write(message_text(item, self.terminal) + '\n')
                self.err.flush()
            elif isinstance(item, Message):
                blocks.append(message_text(item, self.terminal))
            elif isinstance(item, Table):
                blocks.append(table_text(item, self.terminal))
            else:
                blocks.append(FORMATTERS[type(item)](item))
        self.flush(blocks)

    def flush(self, blocks):
        if not blocks:
            return
        text = '\n'.join(blocks) + '\n'
        blocks.clear()
        if self.terminal and self.too_big(text) and self.page(text):
            return
        self.out.write(text)
        self.out.flush()

    def too_big(self, text):
        columns, rows = shutil.get_terminal_size()
        lines = text.splitlines()
        return len(lines) > rows - 1 or max(map(display_width, lines), default=0) > columns

    def page(self, text):
        """Show text through the pager; False if there is none."""
        if not self.pager or self.pager == 'none' or not shutil.which(self.pager):
            return False
        env = dict(os.environ, LESS='-R -F -X -S')
        try:
            subprocess.run([self.pager], input=text.encode(), env=env, check=False)
        except OSError:
            return False
        return True

    def clear(self):
        if self.terminal:
            self.out.write('\x1b[2J\x1b[H')
            self.out.flush()
