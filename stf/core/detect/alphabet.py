"""The characters of a state as small integers, for numpy.

Code 0 is the start of a chain (the context before its first character, shown
'^'), codes 1..50 the letters, the four time symbols and '0', code 51 any other
character. Many chains are encoded at once into one array: each chain is
preceded by ORDER_MAX start codes, so that a context never reaches into the
chain before it.
"""
from dataclasses import dataclass

import numpy as np

LETTERS = '123456789abcdefghiABCDEFGHIrstuvwxyzRSTUVWXYZ'
SYMBOLS = '.,+*0'
ALPHABET = LETTERS + SYMBOLS
START = 0
UNKNOWN = len(ALPHABET) + 1
BASE = UNKNOWN + 1  # codes per position: start, the alphabet, unknown
ORDER_MAX = 4
SHOWN = '^' + ALPHABET + '?'  # code -> the character shown for it

_CODES = np.full(256, UNKNOWN, dtype=np.uint8)
for _code, _char in enumerate(ALPHABET, 1):
    _CODES[ord(_char)] = _code
_CODES[0] = START  # the separator written between chains (NULs inside states are replaced)


@dataclass
class Encoded:
    """Many chains as one array of codes.

    codes: uint8, every chain preceded by `pad` START codes.
    lengths: characters of each chain. starts: index in codes of each chain's
    first character (after its padding).
    """
    codes: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray
    pad: int


def encode(states, pad=ORDER_MAX):
    """Encoded chains; characters outside ASCII become UNKNOWN (one code each,
    so a chain keeps its length)."""
    states = list(states)
    separator = '\x00' * pad
    text = separator + separator.join(states)
    if text.count('\x00') != pad * len(states):
        states = [state.replace('\x00', '\x01') for state in states]
        text = separator + separator.join(states)
    raw = np.frombuffer(text.encode('ascii', 'replace'), dtype=np.uint8)
    codes = _CODES[raw] if len(states) else np.zeros(0, dtype=np.uint8)
    lengths = np.fromiter(map(len, states), dtype=np.int64, count=len(states))
    starts = np.cumsum(lengths + pad) - lengths
    return Encoded(codes, lengths, starts, pad)


def text_of(codes):
    """The characters of codes ('^' for the start of a chain)."""
    return ''.join(SHOWN[code] for code in codes)


def code_of(char):
    return int(_CODES[ord(char)]) if ord(char) < 256 else UNKNOWN
