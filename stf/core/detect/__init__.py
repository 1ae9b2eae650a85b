"""The behavioral detector: trained on labeled chains of letters, it says
whether a chain is malicious, with a calibrated probability, the closest
training label and the transitions and features that decided (see
docs/detector.md)."""
from stf.core.detect.detector import Detector, Judgement, TrainingRow

__all__ = ['Detector', 'Judgement', 'TrainingRow']
