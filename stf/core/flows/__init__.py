"""Flows: reading flow files and streams, flow columns and connections,
letters, filters and the label grammar."""
