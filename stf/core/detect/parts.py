"""The plain records of the detector: a training row, a judgement, and the
settings a detector is trained with."""
from dataclasses import dataclass, field


@dataclass
class TrainingRow:
    tuple_id: str
    label: str
    state: str


@dataclass
class Judgement:
    probability: float
    confidence: float
    malicious: bool
    label: str
    reasons: list = field(default_factory=list)


@dataclass
class Settings:
    """How a detector is trained; saved with it."""
    order: int = 3
    alpha: float = 2.0
    l2: float = 1.0
    ngram_l2: float = 0.03
    folds: int = 5
    prefix_lengths: tuple = (5, 10, 20, 40)
    prefix_weight: float = 0.25
    low_fpr: float = 0.02
    low_fpr_margin: float = 1.0

    def to_json(self):
        return {'order': self.order, 'alpha': self.alpha, 'l2': self.l2,
                'ngram_l2': self.ngram_l2, 'folds': self.folds,
                'prefix_lengths': list(self.prefix_lengths), 'prefix_weight': self.prefix_weight,
                'low_fpr': self.low_fpr, 'low_fpr_margin': self.low_fpr_margin}

    @classmethod
    def from_json(cls, data):
        values = dict(data)
        values['prefix_lengths'] = tuple(values['prefix_lengths'])
        return cls(**values)
