"""The shipped deployment examples agree with the server: Envoy health-checks the service name
the server reports, Kubernetes probes the health port and services it serves, and the
container's arguments are ones `artem` accepts. (nginx's file runs for real in test_scaleout.)"""

from __future__ import annotations

from pathlib import Path

import yaml

from artem_server.cli import build_parser
from artem_server.health import LIVENESS
from artem_server.server import SERVICE_NAME

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _envoy_checks(config: dict) -> None:
    (cluster,) = config["static_resources"]["clusters"]
    assert cluster["lb_policy"] == "LEAST_REQUEST"
    (check,) = cluster["health_checks"]
    assert check["grpc_health_check"]["service_name"] == SERVICE_NAME
    (listener,) = config["static_resources"]["listeners"]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    (route,) = hcm["route_config"]["virtual_hosts"][0]["routes"]
    assert route["route"]["timeout"] == "0s", "streams must not be cut by a route timeout"
    assert "unavailable" in route["route"]["retry_policy"]["retry_on"]


def test_envoy_example_balances_streams_on_health():
    _envoy_checks(yaml.safe_load((DEPLOY / "envoy.yaml").read_text()))


def test_kubernetes_examples_agree_with_the_server():
    docs = {
        d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "artem.yaml").read_text())
    }
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    args = [a.replace("$(POD_NAME)", "artem-0") for a in container["args"]]
    parsed = build_parser().parse_args(args)  # exits (SystemExit) on a flag `artem` does not have
    assert parsed.command == "serve" and parsed.host == "0.0.0.0" and parsed.log_format == "json"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (ports["grpc"], ports["health"], ports["metrics"]) == (
        parsed.port,
        parsed.health_port,
        parsed.metrics_port,
    )
    assert parsed.tls_cert and parsed.token_file, "beyond loopback: TLS and the token"
    for probe, service in (
        ("startupProbe", SERVICE_NAME),
        ("readinessProbe", SERVICE_NAME),
        ("livenessProbe", LIVENESS),
    ):
        assert container[probe]["grpc"] == {"port": parsed.health_port, "service": service}
    assert docs["Service"]["spec"]["clusterIP"] == "None", (
        "headless: Envoy balances streams, not connections"
    )
    envoy = {
        d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "envoy.yaml").read_text())
    }
    _envoy_checks(yaml.safe_load(envoy["ConfigMap"]["data"]["envoy.yaml"]))
