"""rsft: does long chain-of-thought SFT generalize beyond its training domain, when, and at what safety cost?

The package is organised by stage: ``data`` -> ``train`` -> ``generate``/``eval`` -> ``analysis`` -> ``report``,
orchestrated by ``study``. ``import rsft`` is cheap: heavy libraries (torch, transformers, vLLM) load on use.
"""

__version__ = "0.1.0"

from rsft._util.errors import ConfigError, DataError, RsftError

__all__ = ["__version__", "RsftError", "ConfigError", "DataError"]
