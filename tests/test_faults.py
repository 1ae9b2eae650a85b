"""Faults from outside: stf killed while it reads, and data that is odd but
legal (times outside years 1-9999)."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

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
