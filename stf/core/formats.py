"""How values are written for people: times, durations, sizes."""
from datetime import datetime, timezone

UNITS = ((1 << 40, 'TB'), (1 << 30, 'GB'), (1 << 20, 'MB'), (1 << 10, 'KB'))


def when(moment):
    """A datetime (UTC) as 'YYYY-MM-DD HH:MM:SS', '-' for None."""
    return moment.strftime('%Y-%m-%d %H:%M:%S') if moment else '-'


def from_us(microseconds):
    """Integer microseconds since the epoch as 'YYYY/MM/DD HH:MM:SS.ffffff' UTC."""
    if microseconds is None:
        return '-'
    seconds, micro = divmod(microseconds, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, timezone.utc)
    return f'{stamp:%Y/%m/%d %H:%M:%S}.{micro:06d}'


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
