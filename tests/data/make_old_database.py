#!/usr/bin/env python3
"""Write tests/data/old-stf.db: a small database made by stf as it stood before
its modules were moved (datasets, files, groups of connections and of models,
labels, notes), so that a test can open it with today's code.

Run from the project folder: .venv/bin/python tests/data/make_old_database.py
It drives stf.py in batch mode only, so the same script works with any stf.
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATABASE = HERE / 'old-stf.db'
FLOWS = HERE / 'old-flows.binetflow'
LETTERS = HERE / 'old-models.letters.tsv'

HEADER = ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,'
          'TotPkts,TotBytes,SrcBytes,Label')


def flow_lines():
    """A C&C-like beacon, a DNS client and a one-off web visit."""
    lines = [HEADER]
    for k in range(6):  # every 60 s, large and medium-long
        lines.append(f'2015/01/01 10:{k:02d}:00.000000,1.5,tcp,10.0.0.5,{40000 + k},   ->,'
                     f'203.0.113.7,80,FSPA_FSPA,0,0,12,1500,300,flow=From-Botnet-V1-TCP-CC')
    for k in range(4):  # DNS every 10 s, small and short
        lines.append(f'2015/01/01 10:00:{k * 10:02d}.250000,0.01,udp,10.0.0.5,{50000 + k},  <->,'
                     f'8.8.8.8,53,CON,0,0,2,180,70,flow=From-Normal-V1-UDP-DNS')
    lines.append('2015/01/01 10:03:30.000000,20.0,tcp,10.0.0.9,51000,   ->,198.51.100.2,443,'
                 'FSPA_FSPA,0,0,30,20000,2000,flow=Background')
    return lines


LETTERS_TEXT = ('tuple_id\tflows\tlabel\tstate\n'
                '10.1.1.1-10.2.2.2-80-tcp\t3\tFrom-Botnet-TCP-HTTP-Old-1\t99*i*\n'
                '10.1.1.1-10.3.3.3-53-udp\t2\t\t11.\n')

COMMANDS = f"""
datasets -c {FLOWS} --name beacon
connections -g
models -g
labels -a -c 10.0.0.5-203.0.113.7-80-tcp -g 0-1 --name From-Botnet-TCP-HTTP-Beacon-1
labels -a -c 10.0.0.5-8.8.8.8-53-udp -g 0-1 --direction From --decision Normal --proto3 UDP --proto4 DNS
models -n 0-1 -i 10.0.0.5-203.0.113.7-80-tcp --text "Beacons every minute.\\nFirst seen 2015."
datasets -n 0 --text "Hand-made flows for the old-database test."
notes -c --text "A note of its own." 
connections -t 0 -a 4
models -g -c 0
datasets -c {LETTERS} --name imported
"""


def main():
    FLOWS.write_text('\n'.join(flow_lines()) + '\n')
    LETTERS.write_text(LETTERS_TEXT)
    for path in HERE.glob('old-stf.db*'):
        path.unlink()
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, STF_HOME=home)
        done = subprocess.run([sys.executable, str(ROOT / 'stf.py'), '--db', str(DATABASE),
                               '--stop-on-error'], input=COMMANDS, text=True, env=env)
    for path in HERE.glob('old-stf.db.*'):  # index, lock, tmp: made again on opening
        path.unlink()
    return done.returncode


if __name__ == '__main__':
    sys.exit(main())
