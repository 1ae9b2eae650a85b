"""python -m stf.detect crossvalidate --letters TRAIN.tsv [--folds 5] [--seed 0]
[--out FILE]: the figures a detector trained on TRAIN.tsv reaches on chains it
did not see (stratified k-fold cross-validation, thresholds chosen on the
training folds only), at its default and low-FPR thresholds and on the first
20 characters of each chain; JSON on standard output, or into FILE."""
import json
from pathlib import Path

from stf.core.detect import report
from stf.core.detect.training import read_letters
from stf.core.errors import UserError

HELP = 'cross-validated figures of a detector trained on a letters TSV (JSON)'


def add_arguments(parser):
    parser.add_argument('--letters', required=True, metavar='TRAIN.tsv',
                        help='labeled models (tuple_id, flows, label, state)')
    parser.add_argument('--folds', type=int, default=5, help='folds (default 5)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the folds (default 0)')
    parser.add_argument('--out', metavar='FILE', help='write the JSON into FILE')


def run(args):
    if args.folds < 2:
        raise UserError('--folds takes 2 or more')
    figures = report.cross_validated(read_letters(args.letters), folds=args.folds,
                                     seed=args.seed)
    text = json.dumps(figures, indent=1, sort_keys=True) + '\n'
    if args.out:
        try:
            Path(args.out).write_text(text)
        except OSError as error:
            raise UserError(f'cannot write {args.out}: {error.strerror}') from None
    else:
        print(text, end='')
    return 0
