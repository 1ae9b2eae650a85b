"""Notes on a terminal: the small part of Markdown a lab notebook uses, drawn
with ANSI codes. Headings bold (their '#' marks dropped), list items with a
bullet (numbered ones keep their number), **strong** bold, `code` dimmed,
fenced code blocks dimmed and indented; everything else as written. No
library: the subset is small, and a note is read in a terminal only.
"""
import re

BOLD, DIM = '\x1b[1m', '\x1b[2m'
NORMAL = '\x1b[22m'   # neither bold nor dim
FENCE = re.compile(r'\s*(```|~~~)')
HEADING = re.compile(r'(#{1,6})\s+(.*?)(\s+#+)?\s*\Z')
BULLET = re.compile(r'(\s*)[-*+]\s+(.*)\Z')
NUMBERED = re.compile(r'(\s*)(\d{1,9}[.)])\s+(.*)\Z')
CODE_SPAN = re.compile(r'(`+)(.+?)\1')
STRONG = re.compile(r'\*\*(?=\S)(.+?)(?<=\S)\*\*')
CODE_INDENT = '    '
LIST_INDENT = '  '
BULLET_MARK = '•'


def rendered(text):
    """The note's text as the terminal shows it (control characters already
    escaped by the renderer)."""
    lines, fence = [], None
    for line in text.split('\n'):
        if fence is None:
            opened = FENCE.match(line)
            if opened:
                fence = opened[1]
            else:
                lines.append(rendered_line(line))
        elif closes(line, fence):
            fence = None
        else:
            lines.append(f'{CODE_INDENT}{DIM}{line}{NORMAL}')
    return '\n'.join(lines)


def closes(line, fence):
    """A line of only the fence's character, at least as long as the fence."""
    mark = line.strip()
    return mark.startswith(fence) and not mark.strip(fence[0])


def rendered_line(line):
    heading = HEADING.match(line)
    if heading:
        return f'{BOLD}{inline(heading[2], BOLD)}{NORMAL}'
    bullet = BULLET.match(line)
    if bullet:
        return f'{bullet[1]}{LIST_INDENT}{BULLET_MARK} {inline(bullet[2])}'
    numbered = NUMBERED.match(line)
    if numbered:
        return f'{numbered[1]}{LIST_INDENT}{numbered[2]} {inline(numbered[3])}'
    return inline(line)


def inline(text, style=''):
    """`code` dimmed and **strong** bold (not inside code); style: the line's
    own, taken up again after each."""
    pieces, done = [], 0
    for span in CODE_SPAN.finditer(text):
        pieces.append(strong(text[done:span.start()], style))
        pieces.append(f'{DIM}{span[2]}{NORMAL}{style}')
        done = span.end()
    pieces.append(strong(text[done:], style))
    return ''.join(pieces)


def strong(text, style):
    return STRONG.sub(lambda match: f'{BOLD}{match[1]}{NORMAL}{style}', text)
