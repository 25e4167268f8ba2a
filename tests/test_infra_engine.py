"""The real engine's substitutions (tests/infra/engine.py), without starting a server."""

import pytest

from tests.infra import engine

PY = "/cache/vllm/venv/bin/python"


def test_a_container_without_command_runs_its_images_entrypoint_with_the_engines_python():
    c = {"image": "kserve/huggingfaceserver:v0.20.0", "args": ["--model_name=chat", "--x=1"]}
    assert engine._argv(c, PY) == [PY, "-m", "huggingfaceserver", "--model_name=chat", "--x=1"]


def test_a_container_command_is_kept_but_for_the_python_it_names():
    c = {
        "image": "vllm/vllm-openai-cpu:v0.24.0",
        "command": ["python", "-m", "vllm.entrypoints.openai.api_server"],
        "args": ["--port=8080", "--served-model-name=chat", "--model=/mnt/models"],
    }
    argv = engine._argv(c, PY)
    assert argv[:3] == [PY, "-m", "vllm.entrypoints.openai.api_server"]
    assert argv[3:] == c["args"]  # args unchanged: /mnt/models is where the model is mounted


def test_an_image_with_an_unknown_entrypoint_is_refused():
    with pytest.raises(ValueError, match="no known ENTRYPOINT"):
        engine._argv({"image": "example/unknown:1"}, PY)


def test_the_device_selection_wins_over_the_pods_env():
    c = {"env": [{"name": "CUDA_VISIBLE_DEVICES", "value": "0"}, {"name": "X", "value": "1"}]}
    env = engine._env(c, PY)
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["X"] == "1"
    assert env["PATH"].startswith("/cache/vllm/venv/bin:")
    assert env["HF_HUB_OFFLINE"] == "1" and env["VLLM_HOST_IP"] == "127.0.0.1"


def test_probes_are_read_from_the_pod_spec_with_kubelet_defaults():
    spec = {
        "httpGet": {"path": "/v2/health/ready", "port": "http"},
        "initialDelaySeconds": 30,
        "failureThreshold": 90,
    }
    probe = engine.Probe.from_spec(spec, {"http": 8080})
    assert (probe.path, probe.port, probe.initial_delay, probe.failure_threshold) == (
        "/v2/health/ready",
        8080,
        30,
        90,
    )
    assert (probe.period, probe.timeout, probe.success_threshold) == (10, 1, 1)
    assert engine.Probe.from_spec({"exec": {"command": ["true"]}}, {}) is None
    assert engine.Probe.from_spec(None, {}) is None


def test_the_engine_is_unavailable_until_built(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELPORT_VLLM_PYTHON", str(tmp_path / "python"))
    monkeypatch.setenv("MODELPORT_TINY_MODEL", str(tmp_path / "model"))
    with pytest.raises(engine.EngineUnavailable, match="tools/build-vllm.sh"):
        engine.engine_paths()
