"""fescontrol: an open controller for functional electrical stimulation of drop foot.

Research software, not a certified medical device.
"""

__version__ = "0.1.0"
