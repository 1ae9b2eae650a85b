"""What reaches the screen: control characters escaped, tables that fit the
terminal (widths measured as the terminal shows them)."""
import io
import os
import re

import pytest

from stf.commands.results import Fields, Message, Table, Text
from stf.console.render import Renderer, display_width
from stf.core import formats
from stf.core.captures import argus
from tests.conftest import ok, write_pcap
from tests.test_argus import needs_tools

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


# -- widths

@pytest.fixture
def pager(tmp_path):
    """A pager program that keeps what it is given."""
    seen = tmp_path / 'paged.txt'
    script = tmp_path / 'pager.sh'
    script.write_text(f'#!/bin/sh\ncat > "{seen}"\n')
    script.chmod(0o755)
    return str(script), seen


def test_a_75_column_colored_row_measures_75_and_is_not_paged(monkeypatch, pager):
    from stf.console.render import colored_letters
    state = '88,h,h,' * 8 + '88,h'
    row = '| 0-1      | ' + colored_letters(state) + ' |'
    assert display_width(row) == 75 and len(row) > 200
    screen(monkeypatch, 80, 24)
    table = Table(['model id', 'state'], [('0-1', state), ('0-2', 'a')], letters_column=1)
    out = shown([table], pager=pager[0])
    assert not pager[1].exists()
    assert [display_width(line) for line in out.splitlines()] == [75] * 6


def test_wide_and_combining_characters_keep_the_border_straight(monkeypatch):
    screen(monkeypatch, 200)
    table = Table(['name', 'n'], [('漢字', 1), ('e\u0301te\u0301', 2), ('ascii', 3)])
    lines = shown([table]).splitlines()
    assert display_width('e\u0301te\u0301') == 3
    assert {display_width(line) for line in lines} == {13}
    assert lines[3] == '| 漢字  | 1 |'


NOTE = ('Capture of the honeypot lab during the second week of the campaign, with the '
        'operators of the botnet talking to their servers')


def test_the_note_of_a_dataset_is_shortened_to_fit(app, tmp_path, monkeypatch):
    screen(monkeypatch, 160)
    capture = write_pcap(tmp_path / 'capture.pcap', [1.0])
    ok(app, f'datasets -c {capture} --name honeypot')
    ok(app, f'datasets -n 0 --text "{NOTE}"')
    lines = shown(ok(app, 'datasets -l')).splitlines()
    assert max(map(display_width, lines)) == 160
    (row,) = [line for line in lines if 'honeypot' in line]
    assert row.endswith('| Capture of the honeypot… |'), row
    assert all(line[-1] in '+|' for line in lines[1:])


def bordered(lines, columns):
    """Every line of the table inside the screen and closed by its border."""
    table = [line for line in lines if line[:1] in '+|']
    return table and all(display_width(line) <= columns and line[-1] in '+|'
                         for line in table) and len({display_width(line) for line in table}) == 1


def test_long_lines_found_in_notes_are_wrapped_inside_the_table(app, monkeypatch):
    screen(monkeypatch, 60)
    ok(app, f'notes -c --text "first line\\n{NOTE}"')
    lines = shown(ok(app, 'notes -S operators')).splitlines()
    assert bordered(lines, 60), lines
    words = ' '.join(line.split('|')[3].strip() for line in lines if line.startswith('| '))
    assert words.split() == ['line'] + NOTE.split()


def test_long_labels_of_connections_are_wrapped_inside_the_table(app, tmp_path, monkeypatch):
    screen(monkeypatch, 60)
    path = tmp_path / 'labels.binetflow'
    labels = [f'flow=From-Botnet-V{number}-TCP-Established-HTTP' for number in range(4)]
    path.write_text(HEADER + ''.join(
        f'16000000{number}0.0,1,tcp,10.0.0.1,1,->,10.0.0.2,80,S,1,60,{label}\n'
        for number, label in enumerate(labels)))
    ok(app, f'datasets -c {path}')
    ok(app, 'connections -g')
    lines = shown(ok(app, 'connections -L 0')).splitlines()
    assert bordered(lines, 60), lines
    cells = ''.join(line.split('|')[3] for line in lines if line.startswith('| '))
    assert cells.replace(' ', '') == 'labelsintheflows' + ','.join(labels)


# -- datasets -F

@needs_tools
def test_the_details_of_an_argus_file_show_its_flows(app, tmp_path):
    from tests.test_argus import small_packets, write_pcap as write_packets
    capture = tmp_path / 'small.pcap'
    write_packets(capture, small_packets())
    biargus = argus.generate_biargus(capture, tmp_path / 'small.biargus',
                                     app.config.argus_conf)
    ok(app, f'datasets -c {biargus}')
    details = ok(app, 'datasets -F 0')
    assert [item.title for item in details] == ['file 0', 'flows', 'flows per protocol']
    flows = dict(details[1].pairs)
    assert (flows['flows'], flows['first flow'], flows['last flow']) == (
        '2', '2020-09-13 12:26:40.000000 UTC', '2020-09-13 12:26:41.000000 UTC')
    assert details[2].rows == [('tcp', '1'), ('udp', '1')]
    # Kept with the file: ra does not run again while the file is unchanged.
    assert ok(app, 'datasets -F 0') == details
    assert app.current().files[0].scan['flows']['flows'] == 2


def test_a_touched_file_is_hashed_once_and_is_unchanged(app, tmp_path, monkeypatch):
    from stf.core.captures import filescan
    capture = write_pcap(tmp_path / 'capture.pcap', [1.0, 2.0])
    ok(app, f'datasets -c {capture}')
    ok(app, 'datasets -F 0')
    added = formats.when(app.current().files[0].mtime)
    later = capture.stat().st_mtime + 3600
    os.utime(capture, (later, later))
    assert ok(app, 'datasets -f')[0].rows[0][5] == 'changed'
    scans = []
    real_scan = filescan.scan_file
    monkeypatch.setattr(filescan, 'scan_file', lambda *args, **kw: scans.append(args) or
                        real_scan(*args, **kw))
    first = ok(app, 'datasets -F 0')
    assert first[0].text == ('capture.pcap: unchanged content (the same sha256); only its '
                             f'file time changed since it was added ({added}); the new time '
                             'is recorded')
    assert ok(app, 'datasets -f')[0].rows[0][5] == ''
    assert ok(app, 'datasets -F 0')[0].title == 'file 0'   # no notice any more
    assert len(scans) == 1
    # A change of content is still one.
    with open(capture, 'ab') as handle:
        handle.write(b'\0')
    os.utime(capture, (later + 60, later + 60))
    assert ok(app, 'datasets -F 0')[0].text.startswith('capture.pcap changed since it was added')
    assert ok(app, 'datasets -f')[0].rows[0][5] == 'changed'
