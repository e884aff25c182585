"""The demo behind ``make demo``: load a model and report what it is.

Runs on the first model available offline: the zoo's ``organism``, else the
TinyStories llama2.c model in ``../shared/models/llama2c``, else a tiny random
GPT-2. Writes nothing outside ``out/demo/``.
"""

import sys
from pathlib import Path

from interp import cli
from interp.zoo import zoo_names

LLAMA2C = Path(__file__).resolve().parents[2] / "shared" / "models" / "llama2c" / "stories260K.bin"


def pick_model() -> str:
    """The spec of the best model available offline."""
    if "organism" in zoo_names():
        return "zoo:organism"
    if LLAMA2C.is_file():
        return f"llama2c:{LLAMA2C}"
    from interp.testing import save_tiny_checkpoint

    return str(save_tiny_checkpoint("gpt2", Path("out/demo/tiny-gpt2")))


def main() -> int:
    spec = pick_model()
    sys.stdout.write(f"== interp info {spec}\n")
    return cli.main(["info", spec, "--device", "cpu"])


if __name__ == "__main__":
    sys.exit(main())
