r"""The behavioral detector: trained on labeled chains of letters, it says
whether a chain is malicious, with a calibrated probability, the closest
training label and the transitions and features that decided (see
docs/detector.md).

The detector shipped in default/ (Detector.default()) is rebuilt with
    python -m stf.detect train --letters ../shared/data/letters/train.tsv \
        --out stf/core/detect/default --name stratosphere-letters
"""
from stf.core.detect.detector import Detector, Judgement, TrainingRow

__all__ = ['Detector', 'Judgement', 'TrainingRow']
