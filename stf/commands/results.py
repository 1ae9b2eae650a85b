"""What command handlers return; the renderer turns these into output.

Handlers never print. They return a list of these items, which keeps every
command testable without capturing stdout and lets one renderer decide on
tables, paging and plain batch output.
"""
import dataclasses
from dataclasses import dataclass


@dataclass
class Table:
    """Rows under headers. title: shown above; footer: shown below.
    limit: at most this many rows are shown, and given to --json/--csv/--tsv,
    cut only after --sort (rows holds them all, so that --sort sorts all of
    them); a cut table's footer is cut_footer, {shown} and {total} filled in."""
    headers: list
    rows: list
    title: str = ''
    footer: str = ''
    letters_column: int = None  # a column of behavioral-model letters, colored on a terminal
    shorten: tuple = ()  # columns cut with an ellipsis, not wrapped, to fit the screen
    # column -> what its cells are ('verdict', 'status', 'bar'), colored on a terminal
    painted: dict = None
    highlight: str = ''  # a searched text, highlighted in every cell on a terminal
    limit: int = None
    cut_footer: str = '{shown:,} of {total:,} rows'


def cut(table):
    """The table as shown: its first `limit` rows and the footer saying how
    many there were (the table itself when it has no more than that)."""
    if table.limit is None:
        return table
    if len(table.rows) <= table.limit:
        return dataclasses.replace(table, limit=None)
    return dataclasses.replace(table, rows=table.rows[:table.limit], limit=None,
                               footer=table.cut_footer.format(shown=table.limit,
                                                              total=len(table.rows)))


@dataclass
class Fields:
    """A two-column key/value listing, e.g. file details."""
    pairs: list
    title: str = ''


@dataclass
class Message:
    """One line of status. level: 'info', 'ok' or 'warning'."""
    text: str
    level: str = 'info'


@dataclass
class Text:
    """A preformatted block printed as is (help, notes). data: the same
    result as a Table or Fields, for --json / --csv / --tsv (e.g. payload
    bytes in base64 beside their hexdump); markdown: Markdown a terminal
    shows rendered (batch output keeps it as written)."""
    text: str
    data: object = None
    markdown: bool = False


@dataclass
class Timeline:
    """A connection's flows over time, drawn by the renderer to the screen's
    width (stf.commands.timeline.drawing). start: the flows' start times
    (µs, in order); size: their bytes; letters: one letter each; data: the
    flows as a Table, for --json / --csv / --tsv."""
    title: str
    start: list
    size: list
    letters: str
    data: object = None


class Exact(str):
    """A cell given to JSON, CSV and TSV exactly as it is: never read as a
    number, a time or '-' for none (base64 '1234' is text). A Fields key
    that is Exact is its field name as it is ('CompanyName')."""


class Several(list):
    """A cell of several values: the screen shows the first `shown` of them
    ('a, b, c, and 9 more'; '-' for none), JSON gets them all as an array,
    CSV and TSV all of them joined by a space."""

    def __init__(self, values, shown=None):
        super().__init__(values)
        self.shown = shown

    def __str__(self):
        if not self:
            return '-'
        cut = self.shown is not None and len(self) > self.shown
        more = f', and {len(self) - self.shown:,} more' if cut else ''
        return ', '.join(map(str, self[:self.shown])) + more


@dataclass
class Letters(Text):
    """A behavioral model's letters shown whole (text): the renderer wraps
    them to the screen's width (a fixed width in batch mode) and colors them
    on a terminal. title: shown above; data: for --json / --csv / --tsv, the
    letters as a Fields titled like the block (made when not given)."""
    title: str = ''

    def __post_init__(self):
        if self.data is None:
            self.data = Fields([('state', Exact(self.text))], title=self.title)


@dataclass
class ClearScreen:
    """Ask the renderer to clear the terminal."""


def ok(text):
    return Message(text, 'ok')


def warning(text):
    return Message(text, 'warning')


@dataclass
class Plot:
    """A picture (stf.plots.figure.Figure). On the screen: the items of
    `shown` (tables, a timeline) when given, else the figure drawn to the
    screen's width by stf.plots.terminal; with --png FILE the figure is
    written to FILE instead. data: for --json / --csv / --tsv when shown is
    None (made from the figure's series when not given); chart: the figure
    is drawn on the screen too, under the shown items (curves that the
    shown tables only list)."""
    figure: object
    shown: list = None
    data: object = None
    chart: bool = False


def cut_items(items):
    """The items with their tables cut to their limits (the tables a Plot
    shows too): what the screen and --json show, after --sort."""
    found = []
    for item in items:
        if isinstance(item, Table):
            item = cut(item)
        elif isinstance(item, Plot) and item.shown is not None:
            item = dataclasses.replace(item, shown=cut_items(item.shown))
        found.append(item)
    return found


def shown_items(items, screen=False):
    """The items with each Plot that shows other items (tables, a timeline)
    in its place as those items: what --json gives without --png; screen:
    what the screen shows, with the charts drawn under them."""
    for item in items:
        if isinstance(item, Plot) and item.shown is not None:
            yield from shown_items(item.shown, screen)
            if screen and item.chart:
                yield Plot(item.figure, data=item.data)
        else:
            yield item


@dataclass
class Replay:
    """A group's flows replayed in time order, shown full-screen on a
    terminal (stf.console.replay). heading: what is replayed; playback:
    stf.core.flows.replay.Playback (it reads the group's chunks as the
    replay goes); states(conns) -> {conn: its model's letters};
    select(filter words) -> a bool per tuple or None for all (a UserError
    for a bad filter); model_view(conn) -> the items of models -S;
    filter_words: the filter it began with."""
    heading: str
    playback: object
    states: object
    select: object
    model_view: object
    filter_words: list = None
