"""Ground truth of an experiment: what each flow, and so each IP in each slot, was.

SPEC.md ("Experiments"): an IP is malicious in a slot when any of its flows in
the slot is (Botnet, Malware, Attack, Malicious), else normal when any is
(Normal, Benign), else background, which is counted apart and never scored.

Where a flow's truth comes from, first found first:
1. the stf labels of the dataset's models (a mapping tuple id -> label name,
   which the console passes when the group of models is labeled): every flow of
   a labeled tuple takes its tuple's label;
2. the flow file's own label: the Label column of a binetflow, or Zeek's
   label/detailedlabel (the flow reader gives either as the flow's label text).
A flow with neither, or whose label has no decision word, is background.
"""
import numpy as np

from stf.core.flows.labelnames import verdict_of

# Codes ordered so that the largest one of a group of flows is its truth.
BACKGROUND, NORMAL, MALICIOUS = 0, 1, 2
NAMES = ('background', 'normal', 'malicious')
CODES = {name: code for code, name in enumerate(NAMES)}

STF_LABELS = 'stf labels'
SOURCES = {'binetflow': 'Label column', 'zeek': 'Zeek label'}
NO_TRUTH = 'none'


def code_of(label_text):
    """The truth code of any label text ('' is background)."""
    return CODES[verdict_of(label_text)] if label_text else BACKGROUND


def flow_truth(table, tuple_labels=None):
    """(int8 truth code per flow of a flowtable.FlowTable, codes of its
    connections' stf labels or -1 where a tuple has none).

    tuple_labels: tuple id -> stf label name; a tuple in it takes that label
    for every flow, whatever the file says.
    """
    per_label = np.array([code_of(text) for text in table.labels], np.int8)
    truth = per_label[table.label] if table.flows else np.zeros(0, np.int8)
    labeled = np.full(len(table.ids), -1, np.int8)
    for index, conn_id in enumerate(table.ids):
        if tuple_labels and conn_id in tuple_labels:
            labeled[index] = code_of(tuple_labels[conn_id])
    if (labeled >= 0).any():
        per_flow = np.repeat(labeled, np.diff(table.bounds))
        truth = np.where(per_flow >= 0, per_flow, truth).astype(np.int8)
    return truth, labeled


def sources(table, labeled, kind):
    """Which sources gave the truth (see the module docstring), as words."""
    found = []
    if (labeled >= 0).any():
        found.append(STF_LABELS)
    unlabeled = np.repeat(labeled < 0, np.diff(table.bounds))
    if table.flows and (table.label[unlabeled] > 0).any():
        found.append(SOURCES.get(kind, 'flow labels'))
    return found or [NO_TRUTH]


def group_max(codes, groups, size):
    """The largest code of each group (groups: an int array of group indexes
    in 0..size-1); BACKGROUND for a group without members."""
    result = np.zeros(size, np.int8)
    np.maximum.at(result, groups, codes)
    return result
