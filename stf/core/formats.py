"""How values are written for people: times, durations, sizes."""
from datetime import datetime, timedelta, timezone

UNITS = ((1 << 40, 'TB'), (1 << 30, 'GB'), (1 << 20, 'MB'), (1 << 10, 'KB'))


# One way of writing a moment on screen, everywhere: '2024-02-08 15:16:39 UTC'
# (with microseconds where they matter: flows and packets).
def when(moment):
    """A datetime (UTC) as 'YYYY-MM-DD HH:MM:SS UTC', '-' for None."""
    return moment.strftime('%Y-%m-%d %H:%M:%S UTC') if moment else '-'


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def when_us(microseconds):
    """Integer microseconds since the epoch as when() writes them, to the
    second; '-' for None; a time outside years 1-9999 as from_us does."""
    if microseconds is None:
        return '-'
    try:
        return when(EPOCH + timedelta(microseconds=int(microseconds)))
    except OverflowError:
        return from_us(microseconds)


def from_us(microseconds):
    """Integer microseconds since the epoch as 'YYYY-MM-DD HH:MM:SS.ffffff UTC';
    a time outside years 1-9999 (a broken clock, a forged record) as its
    epoch seconds, '253402300800.000000 (epoch seconds)'."""
    if microseconds is None:
        return '-'
    microseconds = int(microseconds)
    try:
        stamp = EPOCH + timedelta(microseconds=microseconds)
    except OverflowError:
        sign = '-' if microseconds < 0 else ''
        seconds, micro = divmod(abs(microseconds), 1_000_000)
        return f'{sign}{seconds}.{micro:06d} (epoch seconds)'
    return f'{stamp.year:04d}-{stamp:%m-%d %H:%M:%S}.{stamp.microsecond:06d} UTC'


def duration_us(microseconds):
    """Microseconds as '1d 02:03:04.500000' style text."""
    seconds, micro = divmod(int(microseconds), 1_000_000)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f'{hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}'
    return f'{days}d {text}' if days else text


def size(count):
    """Bytes as '1.5 MB (1,572,864 bytes)'."""
    if count is None:
        return '-'
    for factor, unit in UNITS:
        if count >= factor:
            return f'{count / factor:.1f} {unit} ({count:,} bytes)'
    return f'{count:,} bytes'


def counted(number, singular, plural=None):
    """'1 flow', '3 flows' (plural: when it is not singular + 's')."""
    return f"{number:,} {singular if number == 1 else (plural or singular + 's')}"
