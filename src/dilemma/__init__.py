"""Security-dilemma sandbox: LLM state personas negotiate and arm; records and measures."""

from dilemma._version import __version__ as __version__
