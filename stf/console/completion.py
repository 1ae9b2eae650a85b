"""Completion in two steps: what kind of word comes next, then candidates.

`next_word` is a pure function of the registry and the text before the
cursor. Candidates from the database come from the App's cache, refreshed
after commands that change data, so typing never waits on the database.
"""
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


def candidates(expectation, values, registry):
    """(text, meta) pairs for kinds whose values are known; paths aside."""
    kind = expectation.kind
    if kind == 'command':
        return [(name, registry.get(name).help) for name in registry.names()]
    if kind == 'option':
        return expectation.command.option_help()
    if kind and kind.startswith('filter:'):
        return filter_candidates(kind.partition(':')[2], expectation.word, values)
    return sorted(values.get(kind, {}).items(), key=lambda pair: natural(pair[0]))


# Filter keys whose values completion offers, and the cached values it offers.
FILTER_VALUES = {'labelname': 'label_name', 'name': 'connection_id'}
OPERATORS = ('=', '!=', '<', '<=', '>', '>=', '~')


def filter_candidates(kind, word, values):
    """-f words: the keys; after a whole key, the key with each operator;
    after 'labelname=' or 'name=' (of models and connections), the cached
    label names or connection ids."""
    keys = FILTER_KEYS.get(kind, {})
    key, operator, _ = OPERATOR_SPLIT.match(word).groups()
    if operator:
        source = FILTER_VALUES.get(key) if kind in ('models', 'connections') or \
            key == 'labelname' else None
        return [(f'{key}{operator}{text}', meta) for text, meta in
                sorted(values.get(source, {}).items())] if source else []
    found = [(name, 'filter key') for name in keys]
    if key in keys:   # a whole key: its operators too (~ for text keys only)
        found += [(f'{key}{op}', 'operator') for op in OPERATORS
                  if op != '~' or keys[key] is str]
    return found


OPERATOR_SPLIT = re.compile(r'([A-Za-z_]*)(<=|>=|!=|=|<|>|~)?(.*)\Z', re.S)


def natural(text):
    return (0, int(text), '') if text.isdigit() else (1, 0, text)


def matching(pairs, word):
    return [(text, meta) for text, meta in pairs if text.startswith(word)]
