"""The import-linter layers contract covers every module, so a new one cannot slip past it."""

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _layered_modules() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return {name.strip() for layer in contract["layers"] for name in layer.replace("|", ":").split(":")}


def test_every_top_level_module_of_each_package_is_in_a_layer():
    layered = _layered_modules()
    missing = []
    for package in ("interp", "circuits", "probes"):
        if package in layered:
            continue
        for path in sorted((ROOT / package).iterdir()):
            name = path.stem if path.suffix == ".py" else path.name
            is_module = path.suffix == ".py" or (path / "__init__.py").is_file()
            if is_module and not name.startswith("__") and f"{package}.{name}" not in layered:
                missing.append(f"{package}.{name}")
    assert not missing, f"modules in no layer of pyproject.toml's import-linter contract: {missing}"
