"""Faults from outside: stf killed while it reads, and data that is odd but
legal (times outside years 1-9999)."""
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import ok

ROOT = Path(__file__).resolve().parent.parent

# -- kill -9 while a large file is read in parts

# A reader of a file in parts whose own part never ends (its progress waits),
# so that it is surely killed while its readers of parts still run or wait
# to hand their parts over. Each part is bigger than a pipe's buffer.
KILLED_READER = '''
import sys, time
from stf.core.flows import flowtable
flowtable.PARALLEL_BYTES = 0
if {fallback}:   # as on systems without prctl: only the watching thread is left
    flowtable._ask_kernel_to_end_us = lambda: False
path = sys.argv[1]
lines = ['StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,TotPkts,TotBytes\\n']
lines += [f'{{1600000000 + n}}.0,1,tcp,10.0.{{n % 200}}.1,1,->,10.1.0.{{n % 90}},80,S,1,60\\n'
          for n in range(30000)]
open(path, 'w').write(''.join(lines))

def reading(done, size):
    print('reading', flush=True)
    time.sleep(600)

flowtable.read(path, progress=reading, workers=4)
'''


def children_of(pid):
    """The pids of pid's child processes, from /proc/*/stat."""
    found = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid):
    """Running or sleeping; a zombie that nobody reaps is gone."""
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except OSError:
        return False
    return state != 'Z'


@pytest.mark.skipif(not Path('/proc/self/stat').exists(), reason='needs /proc')
@pytest.mark.parametrize('fallback', [False, True], ids=['prctl', 'watching thread'])
def test_readers_of_parts_end_when_stf_is_killed(tmp_path, fallback):
    script = KILLED_READER.format(fallback=fallback)
    reader = subprocess.Popen([sys.executable, '-c', textwrap.dedent(script),
                               str(tmp_path / 'flows.binetflow')],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    workers = []
    try:
        assert reader.stdout.readline() == b'reading\n', reader.stderr.read()
        workers = children_of(reader.pid)
        assert len(workers) == 3
        reader.send_signal(signal.SIGKILL)
        reader.wait()
        deadline = time.monotonic() + 3
        while any(map(alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in workers if alive(pid)] == []
        # Nothing holds the killed reader's stdout open any more.
        assert reader.stdout.read() == b''
    finally:
        reader.kill()
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


# -- times outside years 1-9999

FLOW_HEADER = 'StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,TotPkts,TotBytes\n'
# Start times datetime cannot hold, each in a connection of its own.
ODD_STARTS = {'10.0.0.2': '253402300800', '10.0.0.3': '1000000000000',
              '10.0.0.4': '-99999999999', '10.0.0.5': '1600000000.25'}


def test_from_us_is_total():
    from stf.core.formats import from_us
    assert from_us(253_402_300_799_999_999) == '9999-12-31 23:59:59.999999 UTC'
    assert from_us(253_402_300_800_000_000) == '253402300800.000000 (epoch seconds)'
    assert from_us(-62_135_596_800_000_000) == '0001-01-01 00:00:00.000000 UTC'
    assert from_us(-62_135_596_800_000_001) == '-62135596800.000001 (epoch seconds)'
    assert from_us(-1_500_000) == '1969-12-31 23:59:58.500000 UTC'
    assert from_us(2 ** 62) == '4611686018427.387904 (epoch seconds)'


def test_flows_beyond_the_calendar_are_kept_and_shown_as_epoch_seconds(app, tmp_path):
    path = tmp_path / 'odd.binetflow'
    path.write_text(FLOW_HEADER + ''.join(
        f'{start},1,tcp,10.0.0.1,1,->,{dst},80,S,1,60\n' for dst, start in ODD_STARTS.items()))
    ok(app, f'datasets -c {path}')
    flows = dict(ok(app, 'datasets -F 0')[1].pairs)
    assert (flows['flows'], flows['first flow'], flows['last flow']) == (
        '4', '-99999999999.000000 (epoch seconds)', '1000000000000.000000 (epoch seconds)')
    assert ok(app, 'connections -g')[0].text == (
        'group of connections 0: 4 connections from 4 flows of odd.binetflow')
    starts = [ok(app, f'connections -F 10.0.0.1-{dst}-80-tcp')[0].rows[0][2]
              for dst in ODD_STARTS]
    assert starts == ['253402300800.000000 (epoch seconds)',
                      '1000000000000.000000 (epoch seconds)',
                      '-99999999999.000000 (epoch seconds)', '2020-09-13 12:26:40.250000 UTC']


def pcapng_block(kind, body):
    body += b'\0' * (-len(body) % 4)
    return struct.pack('<II', kind, 12 + len(body)) + body + struct.pack('<I', 12 + len(body))


def test_a_pcapng_packet_at_2_to_the_62_ticks(app, tmp_path):
    frame = b'\x02' * 6 + b'\x04' * 6 + b'\x08\x00' + b'\x45' + bytes(19)

    def packet(ticks):
        return pcapng_block(6, struct.pack('<5I', 0, ticks >> 32, ticks & 0xffffffff,
                                           len(frame), len(frame)) + frame)
    path = tmp_path / 'odd.pcapng'
    path.write_bytes(pcapng_block(0x0A0D0D0A, struct.pack('<IHHq', 0x1A2B3C4D, 1, 0, -1))
                     + pcapng_block(1, struct.pack('<HHI', 1, 0, 65535))
                     + packet(1_600_000_000_000_000) + packet(2 ** 62))
    ok(app, f'datasets -c {path}')
    details = ok(app, 'datasets -F 0')
    capture = dict(details[1].pairs)
    assert (capture['packets'], capture['first packet'], capture['last packet']) == (
        '2', '2020-09-13 12:26:40.000000 UTC', '4611686018427.387904 (epoch seconds)')
    assert details[-1].shown[0].rows == [('2020-09-13 12:26:40.000000 UTC', 1),
                                         ('4611686018200.000000 (epoch seconds)', 1)]
