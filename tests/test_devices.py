"""The D2L_DEVICE rule of d2l_compat.devices (framework-free; each room's hook is tested
in its own tests/test_<room>.py)."""

import tomllib
from pathlib import Path

import pytest

from d2l_compat import FRAMEWORKS
from d2l_compat.machine import cpu_description
from d2l_compat.registry import framework as framework_entry
from d2l_compat.devices import (DEVICE_CHOICES, choose_device,
                                requested_device)


@pytest.mark.parametrize("raw, expected", [(None, "auto"), ("", "auto"), ("  ", "auto"),
                                           ("cpu", "cpu"), (" GPU ", "gpu"), ("Auto", "auto")])
def test_requested_device_reads_d2l_device(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("D2L_DEVICE", raising=False)
    else:
        monkeypatch.setenv("D2L_DEVICE", raw)
    assert requested_device() == expected


@pytest.mark.parametrize("raw", ["cuda", "gpu:0", "1"])
def test_requested_device_rejects_other_values_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("D2L_DEVICE", raw)
    with pytest.raises(ValueError, match=f"D2L_DEVICE must be one of .*'{raw}'"):
        requested_device()


@pytest.mark.parametrize("request_, num_gpus, expected", [
    ("auto", 0, "cpu"), ("auto", 1, "gpu"), ("auto", 4, "gpu"),
    ("cpu", 0, "cpu"), ("cpu", 2, "cpu"), ("gpu", 1, "gpu"), ("gpu", 3, "gpu")])
def test_choose_device_rule(request_, num_gpus, expected):
    assert choose_device("pytorch", num_gpus, request_) == expected


def test_choose_device_reads_the_environment_when_no_request_is_given(monkeypatch):
    monkeypatch.setenv("D2L_DEVICE", "cpu")
    assert choose_device("jax", 2) == "cpu"
    monkeypatch.delenv("D2L_DEVICE")
    assert choose_device("jax", 2) == "gpu" and choose_device("jax", 0) == "cpu"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_gpu_requested_without_a_gpu_names_the_framework_and_its_extra(framework):
    with pytest.raises(RuntimeError) as error:
        choose_device(framework, 0, "gpu")
    message = str(error.value)
    assert f"D2L_DEVICE=gpu, but {framework} sees no GPU" in message
    assert f"pip install -e '.[{framework_entry(framework).gpu_extra}]'" in message


def test_every_framework_names_a_gpu_extra_of_pyproject():
    extras = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml")
                           .read_text())["project"]["optional-dependencies"]
    for name in FRAMEWORKS:
        entry = framework_entry(name)
        assert {entry.extra, entry.gpu_extra} <= set(extras), name


def test_choose_device_validates_its_arguments():
    with pytest.raises(TypeError, match="num_gpus must be a non-negative int, got '1'"):
        choose_device("jax", "1")
    with pytest.raises(TypeError, match="num_gpus must be a non-negative int, got True"):
        choose_device("jax", True)
    with pytest.raises(ValueError, match="num_gpus must be a non-negative int, got -1"):
        choose_device("jax", -1)
    with pytest.raises(ValueError, match="request must be one of .*'tpu'"):
        choose_device("jax", 1, "tpu")
    assert DEVICE_CHOICES == ("auto", "cpu", "gpu")


INTEL = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\n"
         "flags\t\t: fpu sse4_1 sse4_2 avx avx2 fma avx512f avx512bw avx512vl avx512_vnni\n"
         "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\n")
ARM = "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes sve\n"


def test_cpu_description_names_the_model_and_the_vector_extensions():
    assert cpu_description(INTEL) == (
        "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz; vector extensions: "
        "sse4_2 avx avx2 fma avx512f avx512bw avx512vl avx512_vnni (AVX-512)")
    assert cpu_description(ARM) == "unknown CPU; vector extensions: asimd sve"
    assert cpu_description("") == "unknown CPU; vector extensions: none listed"


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="no /proc/cpuinfo")
def test_cpu_description_of_this_machine_reads_proc_cpuinfo():
    text = Path("/proc/cpuinfo").read_text()
    model = next(line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("model name"))
    description = cpu_description()
    assert description == cpu_description(text) and description.startswith(f"{model}; ")
    assert ("avx512f" in text.split()) == ("(AVX-512)" in description)
