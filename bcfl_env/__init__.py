"""bcfl-gym: participant selection in blockchain-empowered federated learning over vehicular networks."""

from bcfl_env.config import BCFLConfig, make_config, with_overrides

__version__ = "0.1.0"
__all__ = ["BCFLConfig", "__version__", "make_config", "with_overrides"]
