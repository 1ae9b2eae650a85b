"""Completion in two steps: what kind of word comes next, then candidates.

`next_word` is a pure function of the registry and the text before the
cursor. Candidates from the database come from the App's cache, refreshed
after commands that change data, so typing never waits on the database.
Ids that can number 500,000 (connections, models, notes) are kept sorted
(PrefixIndex) and found by prefix with bisect; a group's ids are read again
only when the group changed (SeenIds).
"""
import bisect
import heapq
import itertools
import os
import re
import shlex
from dataclasses import dataclass

from stf.core.flows.filters import FILTER_KEYS


@dataclass
class Expectation:
    """kind: 'command', 'option', a value kind ('dataset_id', 'path', ...) or
    None; word: the partial word under the cursor; command: its Command."""
    kind: object
    word: str
    command: object = None


def split_words(text):
    """Words typed so far; the last one is '' after a space."""
    closing = ''
    for closing in ('', '"', "'"):
        try:
            words = shlex.split(text + closing)  # an open quote: close it
            break
        except ValueError:
            continue
    else:
        words = text.split()
    if not text or (text[-1].isspace() and not closing):
        words.append('')
    return words


def last_word_start(text):
    """Where the last (raw, possibly quoted) word of text begins."""
    start, quote, escaped = len(text), None, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == '\\' and quote != "'":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in '"\'':
            quote = char
            start = index if start == len(text) else start
        elif char.isspace():
            start = len(text)
        elif start == len(text):
            start = index
    return start


def quoted(word):
    """word as the shell rules would need it typed (spaces, quotes, ;)."""
    return shlex.quote(word) if word else word


def next_word(registry, text):
    if text.lstrip().startswith('!'):   # a shell command: its arguments are paths
        words = split_words(text.lstrip()[1:])
        return Expectation('path' if len(words) > 1 else None, words[-1])
    words = split_words(text)
    if len(words) == 1:
        return Expectation('command', words[0])
    command = registry.get(words[0])
    if command is None:
        return Expectation(None, words[-1])
    word = words[-1]
    if word.startswith('-'):
        return Expectation('option', word, command)
    kind = value_kind(command, words[1:-1])
    if kind:
        return Expectation(kind, word, command)
    return Expectation('option', word, command)


def value_kind(command, previous):
    """The kind of value expected after the words `previous` of a command."""
    flags = [index for index, word in enumerate(previous) if word.startswith('-')]
    if flags:
        last = flags[-1]
        position = len(previous) - last  # 1 = first value after the flag
        kinds = command.completion_kind(previous[last])
        nargs = command.options_taking_values().get(previous[last], 0)
        if nargs in ('+', '*'):
            return kinds  # every following word is one more value
        if nargs != 0:
            kinds = kinds if isinstance(kinds, tuple) else (kinds,)
            return kinds[position - 1] if position <= len(kinds) else None
        if position > 1:
            return None
    return command.completion_kind('')


# Candidates shown at most at a time (a menu of 500,000 is no help); typing
# more of the word narrows them, so no candidate is ever out of reach.
SHOWN = 100


def offered(expectation, values, registry):
    """(text, meta, display or None) of what completes the word: the
    candidates that start with it, at most SHOWN of them, after one entry
    (their common part, shown with '…') saying how many more there are (first,
    where the menu shows it)."""
    lead, source, prefix = source_of(expectation, values, registry)
    limit = None if expectation.kind in ('command', 'option') else SHOWN
    found = starting(source, prefix, limit)
    shown = [(lead + text, meta, None) for text, meta in found.pairs]
    more = found.total - len(found.pairs)
    if more:
        common = lead + found.common
        shown.insert(0, (common, f'{more:,} more: type more of it', common + '…'))
    return shown


def source_of(expectation, values, registry):
    """(the text before the candidates, the candidates, the part of the word
    they complete): 'dataset:' and '0' for the word 'dataset:0'."""
    kind, word = expectation.kind, expectation.word
    if kind == 'command':
        return '', [(name, registry.get(name).help) for name in registry.names()], word
    if kind == 'option':
        return '', expectation.command.option_help(), word
    if kind and kind.startswith('filter:'):
        return filter_source(kind.partition(':')[2], word, values)
    if kind == 'note_owner':
        return owner_source(word, values)
    return '', values.get(kind, {}), word


# Filter keys whose values completion offers, and the cached values it offers.
FILTER_VALUES = {'labelname': 'label_name', 'name': 'connection_id'}
OPERATORS = ('=', '!=', '<', '<=', '>', '>=', '~')


def filter_source(kind, word, values):
    """-f words: the keys; after a whole key, the key with each operator;
    after 'labelname=' or 'name=' (of models and connections), the cached
    label names or connection ids."""
    keys = FILTER_KEYS.get(kind, {})
    key, operator, rest = OPERATOR_SPLIT.match(word).groups()
    if operator:
        source = FILTER_VALUES.get(key) if kind in ('models', 'connections') or \
            key == 'labelname' else None
        return key + operator, values.get(source, {}) if source else [], rest
    found = [(name, 'filter key') for name in keys]
    if key in keys:   # a whole key: its operators too (~ for text keys only)
        found += [(f'{key}{op}', 'operator') for op in OPERATORS
                  if op != '~' or keys[key] is str]
    return '', found, word


# What notes -c --to attaches a note to (KIND:ID): the cached values of each
# kind's ids, and the meta of the kind (models: GROUP/CONN_ID, the group first).
NOTE_OWNERS = {'dataset': ('dataset_id', 'a dataset: dataset:ID'),
               'label': ('label_id', 'a label: label:ID'),
               'model': ('model_group', 'a model: model:GROUP/CONN_ID'),
               'experiment': ('experiment_id', 'an experiment: experiment:ID')}


def owner_source(word, values):
    """--to words: 'dataset:', 'label:', ...; after one, its ids; after
    'model:GROUP/', the connection ids of that group's models."""
    kind, colon, key = word.partition(':')
    if not colon or kind not in NOTE_OWNERS:
        return '', [(f'{name}:', meta) for name, (_, meta) in NOTE_OWNERS.items()], word
    if kind != 'model':
        return f'{kind}:', values.get(NOTE_OWNERS[kind][0], {}), key
    group, slash, conn = key.partition('/')
    if slash:
        return f'model:{group}/', values.get('model_id', {}).get(group, {}), conn
    return 'model:', {f'{name}/': meta for name, meta in values.get('model_group', {}).items()}, \
        key


@dataclass
class Found:
    """pairs: the first candidates starting with a prefix, in order; total:
    how many start with it; common: the longest prefix they all share."""
    pairs: list
    total: int
    common: str


def starting(source, prefix, limit=None):
    """The candidates of source (a PrefixIndex, a dict value -> meta shown in
    natural order, or (value, meta) pairs in their order) starting with prefix."""
    if isinstance(source, PrefixIndex):
        return source.starting(prefix, limit)
    pairs = sorted(source.items(), key=lambda pair: natural(pair[0])) \
        if isinstance(source, dict) else source
    found = [(text, meta) for text, meta in pairs if text.startswith(prefix)]
    common = os.path.commonprefix([text for text, _ in found]) if found else prefix
    return Found(found[:limit], len(found), common)


@dataclass(frozen=True)
class Shelf:
    """Ids in sorted order (of one group) and their meta: one text for all,
    or a callable giving the meta of the id at a position."""
    ids: list
    meta: object

    def describe(self, position):
        return self.meta if isinstance(self.meta, str) else self.meta(position)


class PrefixIndex:
    """Ids kept sorted, in shelves (one per group), found by prefix with
    bisect: a keystroke never scans 500,000 ids, and every id completes once
    enough of it is typed."""

    def __init__(self, shelves=()):
        self.shelves = [shelf for shelf in shelves if len(shelf.ids)]

    def starting(self, prefix, limit=None):
        spans = [(shelf, *prefix_span(shelf.ids, prefix)) for shelf in self.shelves]
        spans = [(shelf, begin, end) for shelf, begin, end in spans if end > begin]
        if not spans:
            return Found([], 0, prefix)
        total = sum(end - begin for _, begin, end in spans)
        taken = total if limit is None else limit
        streams = [((shelf.ids[at], at, shelf) for at in range(begin, min(end, begin + taken)))
                   for shelf, begin, end in spans]
        first = itertools.islice(heapq.merge(*streams, key=lambda item: item[0]), taken)
        pairs = sorted(((text, shelf.describe(at)) for text, at, shelf in first),
                       key=lambda pair: natural(pair[0]))
        lowest = min(shelf.ids[begin] for shelf, begin, _ in spans)
        highest = max(shelf.ids[end - 1] for shelf, _, end in spans)
        return Found(pairs, total, os.path.commonprefix([lowest, highest]))


def prefix_span(ids, prefix):
    """(begin, end) of the sorted ids that start with prefix."""
    begin = bisect.bisect_left(ids, prefix)
    return begin, bisect.bisect_left(ids, prefix + LAST_CHARACTER, begin)


LAST_CHARACTER = '\U0010ffff'
OPERATOR_SPLIT = re.compile(r'([A-Za-z_]*)(<=|>=|!=|=|<|>|~)?(.*)\Z', re.S)


def natural(text):
    return (0, int(text), '') if text.isdigit() else (1, 0, text)


# -- reading the ids (App._completion_values): once per change, never per keystroke

class SeenIds:
    """Shelves of ids read from persistent groups, kept until the group
    changes (its serial: a group is saved whenever its ids change), so that
    a group of 500,000 connections is read once, not after every command."""

    def __init__(self):
        self._kept = {}  # oid -> (serial, shelf)

    def of(self, group, read):
        """read(group), or what it gave while the group is unchanged."""
        group._p_activate()  # a ghost's serial is not yet the stored one
        key, serial = group._p_oid, group._p_serial
        kept = self._kept.get(key)
        if kept is None or kept[0] != serial:
            kept = self._kept[key] = (serial, read(group))
        return kept[1]

    def keep_only(self, groups):
        """Forget the groups not among these (deleted)."""
        live = {group._p_oid for group in groups}
        for key in [key for key in self._kept if key not in live]:
            self._kept.pop(key, None)


def connection_ids(groups, seen):
    """Every connection id of groups of connections (their index is sorted)."""
    return PrefixIndex([seen.of(group, lambda group: Shelf(list(group.index.keys()),
                                                           f'group {group.id}'))
                        for group in reversed(groups)])


def model_ids(groups, seen):
    """Group of models id -> the connection ids of its models."""
    return {group.id: PrefixIndex([seen.of(group, model_shelf)]) for group in groups}


def model_shelf(group):
    """A group's model ids with their flows, from its columns when they are
    up to date, else from its states (both in id order)."""
    columns = getattr(group, 'model_columns', None)
    if columns is not None and columns.count == len(group):
        ids, _, numbers = columns.arrays()
        flows = numbers['flows']
    else:
        pairs = [(conn, count) for conn, (count, _) in group.states.items()]
        ids, flows = [conn for conn, _ in pairs], [count for _, count in pairs]
    return Shelf(ids, lambda at: f'{flows[at]:,} flow' + ('s' if flows[at] != 1 else ''))


# Notes whose first line completion shows, the newest: a note's line is read
# by loading the note, and 50,000 notes would take a second after every
# command. Older notes complete too, as 'note'.
NOTE_LINES = 5000


def note_ids(notes):
    """Every note id (notes: the Notes store), the newest with their first line."""
    ids = list(notes.items.keys())
    newest = notes.items.values(min=ids[-NOTE_LINES:][0]) if ids else ()
    lines = {note.id: note.summary(50) or '(empty)' for note in newest}
    texts = sorted(map(str, ids))
    return PrefixIndex([Shelf(texts, lambda at: lines.get(int(texts[at]), 'note'))])
