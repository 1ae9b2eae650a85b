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
from stf.console import markdown

COLORS = {'error': '\x1b[31m', 'warning': '\x1b[33m', 'ok': '\x1b[32m', 'info': '',
          'note': ''}
RESET = '\x1b[0m'
# 'note': what is said beside --json / --csv / --tsv output, on stderr
PREFIX = {'error': 'error: ', 'warning': 'warning: ', 'ok': '', 'info': '', 'note': ''}


# Letters colored by periodicity class: strongly periodic, weakly periodic,
# weakly not periodic, not periodic, not yet known; zeros and timechars dim.
LETTER_COLORS = {**dict.fromkeys('abcdefghi', '32'), **dict.fromkeys('ABCDEFGHI', '36'),
                 **dict.fromkeys('rstuvwxyz', '33'), **dict.fromkeys('RSTUVWXYZ', '31'),
                 **dict.fromkeys('123456789', '35'), **dict.fromkeys('0.,+*', '2')}
# str.translate's table: a character's code -> the character in its color
COLORED_LETTERS = {ord(char): f'\x1b[{code}m{char}{RESET}'
                   for char, code in LETTER_COLORS.items()}


def colored_letters(state):
    return state.translate(COLORED_LETTERS)


def table_text(item, color=False, columns=None):
    """A bordered table, like prettytable's but built in one pass: listings of
    tens of thousands of models must print in a fraction of a second.

    columns: the screen's width, on a terminal. A table wider than that has
    its widest columns narrowed to fit, their cells wrapped (or shortened with
    an ellipsis, for the columns in item.shorten); a table with a letters
    column is not: its states go whole to the pager, which scrolls sideways.
    """
    headers = [visible(str(header)) for header in item.headers]
    rows, ascii_only = visible_rows(item.rows)
    measure = len if ascii_only and ''.join(headers).isascii() else display_width
    widths = [max([measure(header)] + [measure(row[index]) for row in rows])
              for index, header in enumerate(headers)]
    column = item.letters_column
    if columns and rows and column is None:
        widths = fitted(widths, [measure(header) for header in headers], columns, item.shorten)
        rows = wrapped_rows(rows, widths, measure, item.shorten)
    elif columns and rows:
        narrowed = letters_in_view(widths, column, columns)
        if narrowed is None:     # even at their narrowest the others leave no room
            return expanded_text(item, headers, rows, color)
        rows = [[cell if index == column or measure(cell) <= width else
                 middle_shortened(cell, width) for index, (cell, width) in
                 enumerate(zip(row, narrowed))] for row in rows]
        widths = narrowed
        widths[-1] = min(widths[-1], max(measure(headers[-1]), LAST_COLUMN_RULE))
    else:
        # The last column (often letters, up to tens of thousands) is not padded:
        # padding every row to the longest state would multiply the output.
        widths[-1] = min(widths[-1], max(measure(headers[-1]), LAST_COLUMN_RULE))
    rule = '+' + '+'.join('-' * (width + 2) for width in widths) + '+'
    lines = [visible(item.title)] if item.title else []
    if rows:
        colored = column if color else None
        lines += [rule, table_line(headers, widths, measure), rule]
        lines += [table_line(row, widths, measure, colored) for row in rows]
        lines.append(rule)
    else:
        lines.append('(none)')
    if item.footer:
        lines.append(visible(item.footer))
    return '\n'.join(lines)


LAST_COLUMN_RULE = 60
# A listing of letters shortens its other columns down to this many columns
# each, so that at least LETTERS_SEEN letters start on the screen.
OTHER_COLUMNS_MIN = 12
LETTERS_SEEN = 20


def letters_in_view(widths, column, columns):
    """Widths where the letters column starts on a screen of `columns`, the
    other columns shortened (the widest first, not below OTHER_COLUMNS_MIN);
    None when that is not enough."""
    widths = list(widths)
    others = [index for index in range(len(widths)) if index != column]
    start = lambda: sum(widths[index] + 3 for index in others) + 2   # noqa: E731
    seen = min(LETTERS_SEEN, widths[column])
    while start() + seen > columns:
        narrowable = [index for index in others if widths[index] > OTHER_COLUMNS_MIN]
        if not narrowable:
            return None
        widest = max(narrowable, key=widths.__getitem__)
        widths[widest] = max(OTHER_COLUMNS_MIN, widths[widest] - (start() + seen - columns))
    return widths


def middle_shortened(text, width):
    """'fd2d:ab8c:225:…:7f62:aec8': the start and the end of a long name."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + '…' + text[len(text) - (width - 1 - head):]


def expanded_text(item, headers, rows, color):
    """One record per block (a screen too narrow for the letters beside the
    other columns): every field on a line of its own, the letters last."""
    lines = [visible(item.title)] if item.title else []
    width = max(map(len, headers))
    for number, row in enumerate(rows, 1):
        lines.append(f'-[ record {number} ]' + '-' * 20)
        for index, (header, cell) in enumerate(zip(headers, row)):
            shown = colored_letters(cell) if color and index == item.letters_column else cell
            lines.append(f'{header.ljust(width)} | {shown}')
    if item.footer:
        lines.append(visible(item.footer))
    return '\n'.join(lines)
# A column narrowed to fit the screen keeps at least its header or this many columns.
NARROWEST = 8
# A column that is shortened keeps this many columns while others can give room.
SHORTENED = 24


def table_line(cells, widths, measure=len, letters_column=None):
    if measure is len:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths)]
    else:
        padded = [cell + ' ' * (width - measure(cell)) for cell, width in zip(cells, widths)]
    if letters_column is not None:
        # Pad first: the color codes take no room on the screen.
        padded[letters_column] = colored_letters(padded[letters_column])
    end = ' |' if measure(cells[-1]) <= widths[-1] else ''
    return '| ' + ' | '.join(padded) + end


def fitted(widths, header_widths, columns, shorten=()):
    """The widths narrowed until the table is `columns` wide (or every column
    is as narrow as it may be): the columns of `shorten` first, down to
    SHORTENED, then the widest first."""
    widths = list(widths)
    floors = [min(width, max(header, NARROWEST)) for width, header in zip(widths, header_widths)]
    excess = sum(widths) + 3 * len(widths) + 1 - columns
    for index in shorten:
        target = max(min(widths[index], SHORTENED), widths[index] - excess)
        excess -= widths[index] - target
        widths[index] = target
    while excess > 0:
        narrowable = [index for index, width in enumerate(widths) if width > floors[index]]
        if not narrowable:
            break
        widest = max(narrowable, key=widths.__getitem__)
        others = [widths[index] for index in narrowable if widths[index] < widths[widest]]
        target = max(max(others, default=0), widths[widest] - excess, floors[widest])
        excess -= widths[widest] - target
        widths[widest] = target
    return widths


def wrapped_rows(rows, widths, measure, shorten):
    """Rows whose cells fit their widths: a longer cell is wrapped onto the
    lines below (or shortened, in the columns of `shorten`)."""
    lines = []
    for row in rows:
        if all(measure(cell) <= width for cell, width in zip(row, widths)):
            lines.append(row)
            continue
        pieces = [shortened(cell, width, measure) if index in shorten else
                  wrapped(cell, width, measure)
                  for index, (cell, width) in enumerate(zip(row, widths))]
        height = max(map(len, pieces))
        lines += [[piece[line] if line < len(piece) else '' for piece in pieces]
                  for line in range(height)]
    return lines


def wrapped(text, width, measure=len):
    """text in lines of at most width columns, broken after a space if one is
    near enough, else inside a word."""
    lines = []
    while measure(text) > width:
        cut = fitting(text, width, measure)
        space = text.rfind(' ', 0, cut + 1)
        if space > cut // 2:
            lines.append(text[:space])
            text = text[space + 1:]
        else:
            lines.append(text[:cut])
            text = text[cut:]
    return lines + [text]


def shortened(text, width, measure=len):
    if measure(text) <= width:
        return [text]
    return [text[:fitting(text, width - 1, measure)] + '…']


def fitting(text, width, measure):
    """How many characters of text take at most width columns (at least one)."""
    if measure is len:
        return max(width, 1)
    taken = 0
    for index, char in enumerate(text):
        taken += char_width(char)
        if taken > width:
            return max(index, 1)
    return len(text)


def fields_text(item):
    pairs = [(visible(str(key)), visible(str(value))) for key, value in item.pairs]
    width = max((display_width(key) for key, _ in pairs), default=0)
    lines = [visible(item.title)] if item.title else []
    lines += [f'  {key}{" " * (width - display_width(key))} : {value}' for key, value in pairs]
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
    """(the rows as lists of strings, escaped; whether they are all ASCII).
    One search of all cells finds whether there is anything to escape (nearly
    never) and one test whether len() measures them."""
    rows = [['' if value is None else str(value) for value in row] for row in rows]
    text = ''.join(map(''.join, rows))
    if CONTROLS.search(text):
        rows = [list(map(visible, row)) for row in rows]
    return rows, text.isascii()


ANSI_CODE = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')


def display_width(line):
    """Columns a line takes on the screen: color codes take none, wide
    (East Asian) characters two, combining marks none."""
    visible_part = ANSI_CODE.sub('', line)
    if visible_part.isascii():
        return len(visible_part)
    return sum(map(char_width, visible_part))


def char_width(char):
    if char.isascii():
        return 1
    if unicodedata.combining(char) or unicodedata.category(char) in ('Mn', 'Me', 'Cf'):
        return 0
    return 2 if unicodedata.east_asian_width(char) in 'WF' else 1


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
        columns = shutil.get_terminal_size().columns if self.terminal else None
        for item in items:
            if isinstance(item, ClearScreen):
                self.clear()
            elif isinstance(item, Message) and item.level in ('error', 'note'):
                self.flush(blocks)
                self.err.write(message_text(item, self.terminal) + '\n')
                self.err.flush()
            elif isinstance(item, Message):
                blocks.append(message_text(item, self.terminal))
            elif isinstance(item, Table):
                blocks.append(table_text(item, self.terminal, columns))
            elif isinstance(item, Text) and item.markdown and self.terminal:
                blocks.append(markdown.rendered(visible_text(item.text)))
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
