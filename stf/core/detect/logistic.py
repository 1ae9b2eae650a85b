"""Logistic regression with an L2 penalty, fitted by Newton's method (numpy).

Features are standardised first, so that the weights say how much one
standard deviation of a feature moves the log-odds; the intercept is not
penalised.
"""
from dataclasses import dataclass

import numpy as np


@dataclass
class Logistic:
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def logits(self, features):
        return ((features - self.mean) / self.scale) @ self.weights + self.bias

    def probabilities(self, features):
        return sigmoid(self.logits(features))

    def contributions(self, features):
        """What each feature adds to the log-odds of one row (features: 1-D)."""
        return (features - self.mean) / self.scale * self.weights


def sigmoid(logits):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, dtype=float)))


def fit(features, targets, sample_weights=None, l2=1.0, iterations=100):
    """A Logistic for targets in {0, 1}."""
    features = np.asarray(features, dtype=float)
    targets = np.asarray(targets, dtype=float)
    weights = (np.ones(len(targets)) if sample_weights is None
               else np.asarray(sample_weights, dtype=float))
    mean = np.average(features, axis=0, weights=weights)
    spread = np.sqrt(np.average((features - mean) ** 2, axis=0, weights=weights))
    scale = np.where(spread > 1e-12, spread, 1.0)
    design = np.hstack([(features - mean) / scale, np.ones((len(targets), 1))])
    penalty = np.full(design.shape[1], float(l2))
    penalty[-1] = 0.0
    theta = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = sigmoid(design @ theta)
        gradient = design.T @ (weights * (p - targets)) + penalty * theta
        curvature = design.T @ (design * (weights * p * (1 - p))[:, None]) + np.diag(penalty)
        step = np.linalg.solve(curvature + 1e-9 * np.eye(len(theta)), gradient)
        theta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return Logistic(mean, scale, theta[:-1], float(theta[-1]))
