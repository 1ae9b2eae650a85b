"""`python -m stf.detect`: train a detector from labeled letters and evaluate
it on other labeled letters (see docs/detector.md)."""
