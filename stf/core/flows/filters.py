"""Filters: `-f key<op>value ...`, every condition must hold.

The keys each kind of object accepts are declared in FILTER_KEYS with their
type; '=' is a substring test for text and equality for numbers. A key or
operator that does not exist is an error naming the valid ones, never an
empty result.
"""
import operator
import re
import shlex
from dataclasses import dataclass

from stf.core.errors import UserError

# kind -> key -> value type
FILTER_KEYS = {
    'connections': {'name': str, 'flowamount': int, 'flowlabel': str},
    'models': {'name': str, 'flows': int, 'statelength': int, 'labelname': str,
               'state': str, 'periodicity': float, 'gap': float},
    'labels': {'name': str, 'id': int, 'groupid': str, 'connid': str},
    'notes': {'text': str},
    'experiments': {'name': str},  # the tuples an experiment judges
    'markov_models': {'name': str, 'id': int, 'proto3': str},
    'distances': {'trainname': str, 'testname': str, 'distance': float},
}

TEXT_OPERATORS = {
    '=': lambda value, wanted: wanted in value,
    '!=': lambda value, wanted: wanted not in value,
    '~': lambda value, wanted: wanted.search(value) is not None,   # a compiled pattern
}
COMPARISONS = {'=': operator.eq, '!=': operator.ne, '<': operator.lt,
               '<=': operator.le, '>': operator.gt, '>=': operator.ge}
OPERATOR_NAMES = '= != < <= > >= ~'
# Two-character operators first, so that '<=' is not read as '<'.
SPLIT = re.compile(r'^([A-Za-z_]+)(<=|>=|!=|=|<|>|~)(.*)$', re.S)


@dataclass(frozen=True)
class Condition:
    """key op value; test(value) says whether an object's value holds."""
    key: str
    op: str
    value: object

    def test(self, actual):
        return passing(self, (actual,))[0]


def passing(condition, values):
    """[condition.test(value) for value in values], in one loop per rule."""
    op, wanted = condition.op, condition.value
    if op == '~':
        search = wanted.search
        return [value is not None and search(str(value)) is not None for value in values]
    if isinstance(wanted, str):
        compare = TEXT_OPERATORS.get(op, COMPARISONS[op])
        return [compare('' if value is None else str(value), wanted) for value in values]
    compare = COMPARISONS[op]
    return [value is not None and compare(value, wanted) for value in values]


# What makes shlex.split cut or change a word: only such words are quoted.
SPLIT_BY_SHELL = re.compile(r'[\s\'"\\]|^$')


def as_typed(words):
    """A filter's words as one line, as typed: a word is quoted only when
    shlex.split would not give it back otherwise (flows>10 stays flows>10,
    where shlex.join writes 'flows>10')."""
    return ' '.join(shlex.quote(word) if SPLIT_BY_SHELL.search(word) else word
                    for word in words)


def help_text(kind):
    """What -f takes for objects of kind, for a command's help."""
    return f"key<op>value: {', '.join(FILTER_KEYS[kind])}; op one of {OPERATOR_NAMES}"


def parse(kind, texts):
    """The conditions of `-f` words for objects of `kind`."""
    keys = FILTER_KEYS[kind]
    return [parse_one(kind, keys, text) for text in texts or ()]


def parse_one(kind, keys, text):
    valid = ', '.join(keys)
    match = SPLIT.match(text)
    if not match:
        raise UserError(f"cannot read the filter '{text}': write key<op>value with an "
                        f'operator of {OPERATOR_NAMES}; keys for {kind}: {valid}')
    key, op, value = match.groups()
    if value[:1] in '=<>!' and value:
        raise UserError(f"cannot read the filter '{text}': '{op}{value[0]}' is not an "
                        f'operator; use one of {OPERATOR_NAMES}')
    if key not in keys:
        raise UserError(f"unknown filter key '{key}' for {kind}; valid keys: {valid}")
    if op == '~':
        if keys[key] is not str:
            raise UserError(f"filter {key}: '~' matches text with a regular expression; "
                            f'{key} is a number (use = != < <= > >=)')
        try:
            return Condition(key, op, re.compile(value))
        except re.error as error:
            raise UserError(f"filter {text}: not a regular expression ({error}); quote it, "
                            "e.g. -f 'state~(a\\.){3}'") from None
    return Condition(key, op, convert(keys[key], key, value))


def convert(kind, key, text):
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            what = 'a whole number' if kind is int else 'a number'
            raise UserError(f"filter {key} needs {what}, not '{text}'") from None
    return text


def column_test(condition, column):
    """condition.test over a numeric column at once (NaN: no value, which
    passes no comparison, as None does in test)."""
    found = COMPARISONS[condition.op](column, condition.value)
    return found & (column == column)   # NaN is the only value unequal to itself


def matches(conditions, values):
    """values: key -> the object's value (a dict or a callable key -> value)."""
    get = values if callable(values) else values.get
    return all(condition.test(get(condition.key)) for condition in conditions)
