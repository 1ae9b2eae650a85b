"""stf on RelStorage with PostgreSQL: a real server (tests/pgserver.py),
the console's commands run on it end to end."""
import json
import subprocess
import sys

from tests.conftest import ROOT
from tests.pgserver import postgres, relstorage  # noqa: F401 (fixtures)


def stf(tmp_path, conf, *lines):
    """A batch stf on the RelStorage of conf: (exit status, stdout, stderr)."""
    settings = tmp_path / 'stf.conf'
    settings.write_text(f'[stf]\nzodb_conf = {conf}\n')
    args = [sys.executable, str(ROOT / 'stf.py'), '--conf', str(settings)]
    for line in lines:
        args += ['-c', line]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_datasets_models_and_history_on_postgresql(relstorage, tmp_path):  # noqa: F811
    conf, _ = relstorage
    flows = tmp_path / 'beacon.binetflow'
    flows.write_text('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,'
                     'TotPkts,TotBytes,SrcBytes,Label\n' + ''.join(
                         f'2024/02/08 15:{minute:02d}:00.000000,0.5,tcp,10.0.0.1,{40000 + minute},'
                         f'->,1.1.1.1,80,S_,0,0,4,300,100,flow=x\n' for minute in range(8)))
    status, out, err = stf(tmp_path, conf, f'datasets -c {flows} --name beacon', 'connections -g',
                           'models -g', 'models -L 0-1 --json')
    assert (status, err) == (0, '')
    assert '"model": "10.0.0.1-1.1.1.1-80-tcp"' in out and '"flows": 8' in out
    status, out, err = stf(tmp_path, conf, 'history --json')
    assert status == 0
    assert [row['command'] for row in json.loads(out)][:3] == [
        'models -g', 'connections -g', f'datasets -c {flows} --name beacon']
