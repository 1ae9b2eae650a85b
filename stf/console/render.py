"""The one place that turns result items into output.

On a terminal: bordered tables, status lines in color, listings taller
or wider than the screen through a pager (less -R -F -X -S). In batch mode:
the same tables, plain text, no colors, no pager; errors go to stderr.
NO_COLOR (any value but empty, https://no-color.org) turns the colors off
on a terminal too.
"""
import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import textwrap
import unicodedata

from stf.commands.results import (ClearScreen, Fields, Letters, Message, Plot, Replay, Table,
                                  Text, Timeline, cut, shown_items)
from stf.commands.visualize import NOT_A_TERMINAL
from stf.core.flows.labelnames import DECISION_WORDS
from stf.console import markdown
from stf.core.formats import counted
from stf.plots import terminal

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


def in_color(code, cell):
    """A padded cell with its text in color (the padding stays plain)."""
    text = cell.rstrip(' ')
    if not code or not text:
        return cell
    return f'\x1b[{code}m{text}{RESET}{cell[len(text):]}'


def by_word(colors):
    """A painter coloring a cell whose whole text is one of the words of colors."""
    return lambda cell: in_color(colors.get(cell.strip()), cell)


VERDICT_COLORS = {'malicious': '31', 'normal': '32'}
# A decision word (Botnet, Benign, ...) takes the color of its verdict.
WORD_COLORS = {**VERDICT_COLORS, **{word: VERDICT_COLORS[verdict] for word, (_, verdict)
                                    in DECISION_WORDS.items() if verdict in VERDICT_COLORS}}
# What the cells of a column are (Table.painted) -> the function that colors one.
PAINTS = {'verdict': by_word(WORD_COLORS),
          'status': by_word({'changed': '33', 'missing': '31'}),
          'bar': lambda cell: in_color('36', cell)}
HIGHLIGHT = '1;33'


def highlighter(text):
    """A painter marking every place of text in a cell (case-insensitive)."""
    found = re.compile(re.escape(visible(text)), re.IGNORECASE)
    return lambda cell: found.sub(lambda match: in_color(HIGHLIGHT, match[0]), cell)


def painters(item):
    """column -> the function that colors its padded cells, on a terminal."""
    found = {index: PAINTS[kind] for index, kind in (item.painted or {}).items()}
    if item.highlight:
        marking = highlighter(item.highlight)
        found.update({index: marking for index in range(len(item.headers))
                      if index not in found})
    if item.letters_column is not None:
        found[item.letters_column] = colored_letters
    return found


def table_text(item, color=False, columns=None):
    """A bordered table, like prettytable's but built in one pass: listings of
    tens of thousands of models must print in a fraction of a second.

    columns: the screen's width, on a terminal. A table wider than that has
    its widest columns narrowed to fit, their cells wrapped (or shortened with
    an ellipsis, for the columns in item.shorten); a table with a letters
    column is not: its states go whole to the pager, which scrolls sideways.
    """
    item = cut(item)     # a table not given through the App (a full-screen view's)
    headers = [visible(str(header)) for header in item.headers]
    rows, ascii_only = visible_rows(item.rows)
    measure = len if ascii_only and ''.join(headers).isascii() else display_width
    widths = [max([measure(header)] + [measure(row[index]) for row in rows])
              for index, header in enumerate(headers)]
    column = item.letters_column
    if columns and rows and column is None:
        widths = fitted(widths, [measure(header) for header in headers], columns, item.shorten,
                        longest_words(rows, len(headers), measure)
                        if sum(widths) + 3 * len(widths) + 1 > columns else None)
        rows = wrapped_rows(rows, widths, measure, item.shorten)
    elif columns and rows:
        narrowed = letters_in_view(widths, column, columns)
        if narrowed is None:     # even at their narrowest the others leave no room
            return expanded_text(item, headers, rows, painters(item) if color else {})
        rows = [[cell if index == column or measure(cell) <= width else
                 middle_shortened(cell, width) for index, (cell, width) in
                 enumerate(zip(row, narrowed))] for row in rows]
        widths = narrowed
        widths[-1] = min(widths[-1], max(measure(headers[-1]), LAST_COLUMN_RULE))
    elif column is not None or widths[-1] > LONGEST_PADDED:
        # Letters (up to tens of thousands) in the last column are not padded:
        # padding every row to the longest state would multiply the output.
        # Other text is, up to LONGEST_PADDED, so that the borders close.
        widths[-1] = min(widths[-1], max(measure(headers[-1]), LAST_COLUMN_RULE))
    rule = '+' + '+'.join('-' * (width + 2) for width in widths) + '+'
    lines = [visible(item.title)] if item.title else []
    if rows:
        paint = painters(item) if color else None
        lines += [rule, table_line(headers, widths, measure), rule]
        lines += [table_line(row, widths, measure, paint) for row in rows]
        lines.append(rule)
    else:
        lines.append('(none)')
    if item.footer:
        lines.append(visible(item.footer))
    return '\n'.join(lines)


LAST_COLUMN_RULE = 60
LONGEST_PADDED = 200
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


def expanded_text(item, headers, rows, paint):
    """One record per block (a screen too narrow for the letters beside the
    other columns): every field on a line of its own, the letters last.
    paint: column -> its painter (see painters), on a terminal."""
    lines = [visible(item.title)] if item.title else []
    width = max(map(len, headers))
    for number, row in enumerate(rows, 1):
        lines.append(f'-[ record {number} ]' + '-' * 20)
        for index, (header, cell) in enumerate(zip(headers, row)):
            shown = paint[index](cell) if index in paint else cell
            lines.append(f'{header.ljust(width)} | {shown}')
    if item.footer:
        lines.append(visible(item.footer))
    return '\n'.join(lines)
# A column narrowed to fit the screen keeps at least its header or this many columns.
NARROWEST = 8
# A column that is shortened keeps this many columns while others can give room.
SHORTENED = 24


def table_line(cells, widths, measure=len, paint=None):
    """One row; paint: column -> its painter (see painters), on a terminal."""
    if measure is len:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths)]
    else:
        padded = [cell + ' ' * (width - measure(cell)) for cell, width in zip(cells, widths)]
    # Padded first: the color codes take no room on the screen.
    for index, painter in (paint or {}).items():
        padded[index] = painter(padded[index])
    end = ' |' if measure(cells[-1]) <= widths[-1] else ''
    return '| ' + ' | '.join(padded) + end


def fitted(widths, header_widths, columns, shorten=(), words=None):
    """The widths narrowed until the table is `columns` wide (or every column
    is as narrow as it may be): the columns of `shorten` first, down to
    SHORTENED, then the widest first; first not below each column's longest
    word (words: their widths, at most WORD_FLOOR), so that dates and names
    break at their spaces, then down to NARROWEST."""
    widths = list(widths)
    excess = sum(widths) + 3 * len(widths) + 1 - columns
    for index in shorten:
        target = max(min(widths[index], SHORTENED), widths[index] - excess)
        excess -= widths[index] - target
        widths[index] = target
    plain = [min(width, max(header, NARROWEST)) for width, header in zip(widths, header_widths)]
    kept = [max(floor, min(word, WORD_FLOOR, width))
            for floor, word, width in zip(plain, words or plain, widths)]
    for floors in (kept, plain):
        excess = _narrowed(widths, floors, excess)
    return widths


def _narrowed(widths, floors, excess):
    """Narrow widths in place, the widest first, not below floors; the excess left."""
    while excess > 0:
        narrowable = [index for index, width in enumerate(widths) if width > floors[index]]
        if not narrowable:
            break
        widest = max(narrowable, key=widths.__getitem__)
        others = [widths[index] for index in narrowable if widths[index] < widths[widest]]
        target = max(max(others, default=0), widths[widest] - excess, floors[widest])
        excess -= widths[widest] - target
        widths[widest] = target
    return excess


# A column is kept as wide as its longest word up to this many columns while
# others can give room; words are measured in the first WORD_ROWS rows.
WORD_FLOOR = 12
WORD_ROWS = 2000


def longest_words(rows, count, measure):
    """The width of the longest space-separated word of each column."""
    found = [0] * count
    for row in rows[:WORD_ROWS]:
        for index, cell in enumerate(row):
            found[index] = max(found[index], max(map(measure, cell.split(' ')), default=0))
    return found


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


# A model's letters shown whole (models -S) wrap at the screen's width, in
# batch mode at LETTERS_WIDTH (files and pipes read best in lines of a size).
LETTERS_WIDTH = 100
LETTERS_INDENT = '  '


def letters_text(item, color=False, columns=None):
    """Letters wrapped to columns (LETTERS_WIDTH without a screen), indented
    like Fields, each colored on a terminal."""
    text = visible(item.text)
    measure = len if text.isascii() else display_width
    lines = wrapped(text, max((columns or LETTERS_WIDTH) - len(LETTERS_INDENT), 1), measure)
    paint = colored_letters if color else str
    title = [visible(item.title)] if item.title else []
    return '\n'.join(title + [LETTERS_INDENT + paint(line) for line in lines])


def fields_text(item, columns=None):
    """Key : value lines; on a screen of `columns`, a longer value wraps
    under itself (unless that leaves it fewer than NARROWEST columns)."""
    pairs = [(visible(str(key)), visible(str(value))) for key, value in item.pairs]
    width = max((display_width(key) for key, _ in pairs), default=0)
    room = columns - width - 5 if columns else 0     # 5: '  ' and ' : '
    lines = [visible(item.title)] if item.title else []
    for key, value in pairs:
        pieces = wrapped(value, room, display_width) if room >= NARROWEST else [value]
        lines.append(f'  {key}{" " * (width - display_width(key))} : {pieces[0]}')
        lines += [' ' * (width + 5) + piece for piece in pieces[1:]]
    return '\n'.join(lines)


def message_text(item, color, columns=None):
    """A message on its lines; on a terminal wrapped to its width (a status
    line wider than the screen must not send the output to the pager)."""
    text = PREFIX[item.level] + visible(item.text)
    if columns and display_width(text) > columns:
        text = '\n'.join(textwrap.wrap(text, columns, break_on_hyphens=False))
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


def timeline_text(item, color=False, columns=None):
    """A timeline as wide as the screen (terminal.BATCH_WIDTH in batch mode).
    Only its title comes from outside (the connection's name): the rest is
    stf's own drawing, its letters colored on a terminal."""
    title, *lines = terminal.timeline_drawing(item, columns or terminal.BATCH_WIDTH,
                                              colored_letters if color else None)
    return '\n'.join([visible(title), *lines])


# The colors of a figure's series on a terminal, the first series' first.
SERIES_COLORS = ('36', '33', '35', '32', '31', '34')


def paint_figure(text, role):
    """Color a piece of a figure: a series' marks in its color, letters by class."""
    if role == 'letters':
        return colored_letters(text)
    return in_color(SERIES_COLORS[role % len(SERIES_COLORS)], text)


def plot_text(item, color=False, columns=None):
    """A figure drawn as wide as the screen (terminal.BATCH_WIDTH in batch
    mode), its names escaped (they come from datasets and connections)."""
    return '\n'.join(terminal.drawing(visible_figure(item.figure), columns or terminal.BATCH_WIDTH,
                                       paint_figure if color else None))


def visible_figure(figure):
    """The figure with every control character of its texts escaped."""
    panels = tuple(dataclasses.replace(
        panel, title=visible(panel.title), x_label=visible(panel.x_label),
        y_label=visible(panel.y_label),
        series=tuple(dataclasses.replace(series, label=visible(series.label))
                     for series in panel.series)) for panel in figure.panels)
    return dataclasses.replace(figure, title=visible(figure.title), panels=panels)


FORMATTERS = {Table: table_text, Fields: fields_text,
              Text: lambda item: visible_text(item.text)}


def item_text(item, color=False, columns=None, terminal=False):
    """One result item as text (Replay and ClearScreen aside): what a
    Renderer writes for it, and what a full-screen view (a model opened
    from visualize) shows."""
    if isinstance(item, Message):
        return message_text(item, color, columns)
    if isinstance(item, Table):
        return table_text(item, color, columns)
    if isinstance(item, Letters):
        return letters_text(item, color, columns)
    if isinstance(item, Fields):
        return fields_text(item, columns)
    if isinstance(item, Timeline):
        return timeline_text(item, color, columns)
    if isinstance(item, Plot):
        return plot_text(item, color, columns)
    if isinstance(item, Text) and item.markdown and terminal:
        return markdown.rendered(visible_text(item.text))
    return FORMATTERS[type(item)](item)


class Renderer:
    """Writes result items.

    Attributes: out, err (streams), terminal (pager, clear), color (on a
    terminal unless NO_COLOR is set), pager (command name or 'none'), busy
    (label -> a context manager: the console's spinner while a large
    listing is formatted), full_screen (item -> the items to show after it:
    a Replay shown full-screen, on the console's terminal; None elsewhere).
    """

    def __init__(self, out, err, terminal=False, pager='less'):
        self.out = out
        self.err = err
        self.terminal = terminal
        self.color = terminal and not os.environ.get('NO_COLOR')
        self.pager = pager
        self.busy = lambda label: contextlib.nullcontext()
        # item -> items: shows a Replay full-screen (the console's terminal only)
        self.full_screen = None

    def show(self, items):
        blocks = []
        columns = shutil.get_terminal_size().columns if self.terminal else None
        for item in shown_items(items, screen=True):
            if isinstance(item, ClearScreen):
                self.clear()
            elif isinstance(item, Message) and item.level in ('error', 'note'):
                self.flush(blocks)
                self.err.write(message_text(item, self.color, columns) + '\n')
                self.err.flush()
            elif isinstance(item, Replay):
                self.flush(blocks)
                self.replay(item)
            elif isinstance(item, Table):
                with self.busy(f'formatting {counted(len(item.rows), "row")}'):
                    blocks.append(table_text(item, self.color, columns))
            else:
                blocks.append(item_text(item, self.color, columns, self.terminal))
        self.flush(blocks)

    def replay(self, item):
        """A replay runs full-screen on the console's terminal (the command
        refuses it in batch mode: this is for a renderer given one anyway)."""
        if self.full_screen is None:
            self.err.write(message_text(Message(NOT_A_TERMINAL, 'error'), False) + '\n')
            return
        self.show(self.full_screen(item))

    def flush(self, blocks):
        if not blocks:
            return
        with self.busy('preparing the listing'):
            text = '\n'.join(blocks) + '\n'
            paged = self.terminal and self.too_big(text)
        blocks.clear()
        if paged and self.page(text):
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
