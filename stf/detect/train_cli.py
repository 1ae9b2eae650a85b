"""python -m stf.detect train --letters TRAIN.tsv --out DIR [--name NAME] [--seed N]"""
from pathlib import Path

from stf.core.detect import Detector
from stf.core.detect.storage import MANIFEST
from stf.core.detect.training import read_letters
from stf.core.errors import UserError

HELP = 'train a detector from a labeled letters TSV and save it in a folder'


def add_arguments(parser):
    parser.add_argument('--letters', required=True, metavar='TRAIN.tsv',
                        help='labeled models (tuple_id, flows, label, state)')
    parser.add_argument('--out', required=True, metavar='DIR',
                        help='the folder the detector is saved in')
    parser.add_argument('--name', help="the detector's name (default: the file's name)")
    parser.add_argument('--seed', type=int, default=0, help='seed of the folds (default 0)')


def run(args):
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f'{out} is a file; --out takes a folder')
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise UserError(f'{out} holds files and is not a detector folder; choose an empty '
                        'or new folder')
    rows = read_letters(args.letters)
    name = args.name or Path(args.letters).stem
    detector = Detector.train(rows, name=name, seed=args.seed)
    detector.save(out)
    counts = detector.trained_on
    print(f"detector '{name}' trained on {counts['malicious']} malicious and "
          f"{counts['normal']} normal chains ({counts['skipped']} skipped); thresholds: "
          f"default {detector.thresholds['default']:.4f}, low-FPR "
          f"{detector.thresholds['low_fpr']:.4f}; saved in {out}")
    return 0
