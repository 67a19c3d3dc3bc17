"""Faultline: the shop API that the lab breaks and observes."""

__version__ = "0.1.0"
