"""The ingress stand-in (tests/infra/ingress.py): requests for an InferenceService's host reach
its ready pod unchanged (streams included), as a gateway routes them by Host."""

import json
import subprocess

import requests

from tests.infra.ingress import IngressProxy, kserve_resolver
from tests.infra.openai_server import OpenAIServer

HOST = "chat-team-search.example.com"


def _isvcs_and_pods(backend: str, ready: bool = True):
    ip, port = backend.split(":")
    objects = {
        "/apis/serving.kserve.io/v1beta1/inferenceservices": {"items": [
            {"metadata": {"name": "other", "namespace": "team-search"},
             "status": {"url": "http://other-team-search.example.com"}},
            {"metadata": {"name": "chat", "namespace": "team-search"},
             "status": {"url": f"http://{HOST}"}},
        ]},
        "/api/v1/namespaces/team-search/pods?labelSelector=serving.kserve.io/inferenceservice=chat":
            {"items": [{"status": {"podIP": ip, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}]},
    }  # fmt: skip
    return objects.get, int(port)


def test_a_streamed_request_for_the_isvc_host_reaches_its_ready_pod_unchanged():
    server = OpenAIServer(model="chat").start()
    backend = server.url.split("://")[1]
    get_json, port = _isvcs_and_pods(backend)
    proxy = IngressProxy(kserve_resolver(get_json, port=port)).start()
    try:
        body = {"model": "chat", "prompt": "hi", "max_tokens": 3, "stream": True}
        with requests.post(f"http://{HOST}/openai/v1/completions", json=body, stream=True,
                           proxies={"http": proxy.url}, timeout=10) as r:  # fmt: skip
            data = [line for line in r.iter_lines() if line.startswith(b"data: ")]
        assert r.status_code == 200 and data[-1] == b"data: [DONE]"
        assert "".join(json.loads(d[6:])["choices"][0]["text"] for d in data[:3]) == "Paris is the"
        assert proxy.requests == [(HOST, "/openai/v1/completions", backend)]
        assert server.requests[0]["host"] == HOST  # the Host header kept, as a gateway does
        code = subprocess.run(  # curl honours only the lower-case http_proxy
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://{HOST}/openai/v1/models"],
            env=proxy.env(), capture_output=True, text=True, timeout=30,
        ).stdout  # fmt: skip
        assert code == "200"
    finally:
        proxy.stop()
        server.stop()


def test_an_unknown_host_or_a_pod_not_ready_answers_502_unless_passed_through():
    server = OpenAIServer(model="chat").start()
    backend = server.url.split("://")[1]
    get_json, port = _isvcs_and_pods(backend, ready=False)
    proxy = IngressProxy(kserve_resolver(get_json, port=port)).start()
    through = IngressProxy(kserve_resolver(get_json, port=port), passthrough=True).start()
    try:
        for host in (HOST, "nobody.example.com"):
            r = requests.get(f"http://{host}/", proxies={"http": proxy.url}, timeout=10)
            assert r.status_code == 502 and host in r.text
        r = requests.get(f"{server.url}/openai/v1/models", proxies={"http": through.url},
                         timeout=10)  # fmt: skip
        assert r.status_code == 200 and r.json()["data"][0]["id"] == "chat"
    finally:
        proxy.stop()
        through.stop()
        server.stop()


def test_the_proxy_env_routes_plain_http_only():
    proxy = IngressProxy(lambda host: None)
    proxy._httpd = type("S", (), {"server_address": ("127.0.0.1", 1234)})()
    env = proxy.env()
    assert env["http_proxy"] == env["HTTP_PROXY"] == "http://127.0.0.1:1234"
    assert "HTTPS_PROXY" not in env and "https_proxy" not in env  # the apiserver stays direct
