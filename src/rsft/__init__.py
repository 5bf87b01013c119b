"""rsft: does long chain-of-thought SFT generalize beyond its training domain, when, and at what safety cost?

The package is organised by stage: ``data`` -> ``train`` -> ``generate``/``eval`` -> ``analysis`` -> ``report``,
orchestrated by ``study``. ``import rsft`` is cheap: heavy libraries (torch, transformers, vLLM) load on use.
"""

from rsft._util.errors import ConfigError, DataError, RsftError
from rsft._version import __version__

__all__ = ["__version__", "RsftError", "ConfigError", "DataError"]
