"""What reaches the screen: control characters escaped."""
import io
import re

from stf.commands.results import Fields, Message, Table, Text
from stf.console.render import Renderer, display_width
from tests.conftest import ok, write_pcap

# The renderer's own color codes: the only escape sequences it may write.
OWN_CODES = re.compile(r'\x1b\[(?:3[0-7]|2|0)m')
HEADER = 'StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,TotPkts,TotBytes,Label\n'


def screen(monkeypatch, columns, lines=200):
    monkeypatch.setenv('COLUMNS', str(columns))
    monkeypatch.setenv('LINES', str(lines))


def shown(items, pager='none'):
    """What a terminal gets (stdout and stderr together)."""
    out, err = io.StringIO(), io.StringIO()
    Renderer(out, err, terminal=True, pager=pager).show(items)
    return out.getvalue() + err.getvalue()


def foreign_escapes(text):
    return OWN_CODES.sub('', text).count('\x1b')


# -- control characters

def test_a_file_name_with_an_escape_sequence_and_a_newline(app, tmp_path, monkeypatch):
    screen(monkeypatch, 250)
    folder = tmp_path / 'lab'
    folder.mkdir()
    capture = write_pcap(folder / 'red\x1b[31mcapture\nfake row.pcap', [1.0, 2.0])
    created = ok(app, f"datasets -c '{capture}' --name 'case\x07one'")
    (listing,) = ok(app, 'datasets -l')
    assert listing.rows[0][3] == 'red\x1b[31mcapture\nfake row.pcap'  # the data stays raw
    out = shown(created + [listing] + ok(app, 'datasets -f'))
    assert out.count('red\\x1b[31mcapture\\nfake row.pcap') == 3
    assert "dataset 0 'case\\x07one' created" in out
    assert foreign_escapes(out) == 0 and '\x07' not in out
    table = out.splitlines()[2:7]
    assert len({display_width(line) for line in table}) == 1, table


def test_imported_labels_and_notes_with_control_characters(app, tmp_path, monkeypatch):
    screen(monkeypatch, 200)
    path = tmp_path / 'labels.binetflow'
    path.write_text(HEADER + '1600000000.0,1,tcp,10.0.0.1,1,->,10.0.0.2,80,S,1,60,'
                    'flow=From-Botnet\x1b[2J\x9b31m\x7f-V1\n')
    ok(app, f'datasets -c {path}')
    ok(app, 'connections -g')
    ok(app, 'notes -c --text "first\\x00 line\\n\\x1b]0;title\\x07second line"')
    out = shown(ok(app, 'connections -L 0') + ok(app, 'notes -s 0'))
    assert 'flow=From-Botnet\\x1b[2J\\x9b31m\\x7f-V1' in out
    # A note keeps its lines; only the other controls are escaped.
    assert 'first\\x00 line\n\\x1b]0;title\\x07second line' in out
    assert foreign_escapes(out) == 0 and not re.search('[\x00-\x08\x0b-\x1f\x7f-\x9f]',
                                                       OWN_CODES.sub('', out))


def test_messages_fields_and_titles_are_escaped():
    out = shown([Message('bad\x1b[2J\r', 'error'), Fields([('name', 'a\nb\x00')], title='f\x1b'),
                 Table(['x'], [('y',)], title='t\x1b[1m', footer='\x0c'), Text('a\tb\x1bc\n')])
    assert out == ('f\\x1b\n  name : a\\nb\\x00\nt\\x1b[1m\n+---+\n| x |\n+---+\n| y |\n'
                   '+---+\n\\x0c\na\tb\\x1bc\n\n\x1b[31merror: bad\\x1b[2J\\r\x1b[0m\n')
