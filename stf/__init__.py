"""stf: a research console for network-security analysts."""
__version__ = '0.1.0'
