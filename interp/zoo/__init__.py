"""The model zoo: small trained transformers with documented heads, loadable as ``zoo:NAME``."""

from interp.zoo.registry import ZOO_DIR as ZOO_DIR
from interp.zoo.registry import zoo_names as zoo_names
from interp.zoo.registry import zoo_path as zoo_path
