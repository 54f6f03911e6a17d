"""The public surface of quorate.config is pinned: other parts of quorate import these names."""

from __future__ import annotations

import dataclasses

import quorate.config as config
from quorate.config import model


def test_exports() -> None:
    assert sorted(config.__all__) == sorted(
        [
            "DEFAULT_PATH",
            "MAX_BYTES",
            "Action",
            "AltName",
            "ClusterConfig",
            "ClusterNode",
            "ConfigError",
            "ConfigReadError",
            "DomainNode",
            "FailoverDomain",
            "FenceDaemon",
            "FenceDevice",
            "FenceDeviceRef",
            "FenceMethod",
            "Heuristic",
            "Problem",
            "Quorumd",
            "Resource",
            "ResourceManager",
            "Service",
            "cluster_id_from_name",
            "derived_multicast",
            "load_config",
            "parse_config",
        ]
    )
    for name in config.__all__:
        assert getattr(config, name) is not None


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_model_field_order() -> None:
    assert _fields(model.ClusterConfig)[:21] == [
        "name",
        "config_version",
        "cluster_id",
        "port",
        "multicast_address",
        "multicast_explicit",
        "expected_votes",
        "expected_votes_explicit",
        "two_node",
        "wait_for_all",
        "keyfile",
        "token_ms",
        "join_ms",
        "consensus_ms",
        "nodes",
        "fencedevices",
        "fence_daemon",
        "quorumd",
        "rm",
        "digest",
        "source",
    ]
    assert _fields(model.ClusterNode)[:6] == ["name", "nodeid", "votes", "fence", "unfence", "line"]
    assert _fields(model.Resource)[:5] == ["type", "attrs", "children", "ref", "line"]
    assert _fields(model.Service)[:11] == [
        "name",
        "autostart",
        "domain",
        "recovery",
        "exclusive",
        "max_restarts",
        "restart_expire_time",
        "depend",
        "attrs",
        "children",
        "line",
    ]
    assert _fields(model.FenceDaemon) == [
        "post_join_delay",
        "post_fail_delay",
        "clean_start",
        "skip_undefined",
        "override_path",
        "override_time",
    ]
    assert model.FenceDaemon() == model.FenceDaemon(6, 0, False, False, "/var/run/cluster/fenced_override", 3)
    assert _fields(model.Quorumd)[-1] == "heuristics"
    assert _fields(model.Problem if hasattr(model, "Problem") else config.Problem) == [
        "severity",
        "file",
        "line",
        "path",
        "attribute",
        "message",
        "hint",
    ]


def test_models_are_frozen_and_slotted() -> None:
    for cls in (model.ClusterConfig, model.ClusterNode, model.Resource, model.Service, model.Quorumd, config.Problem):
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen
        assert "__slots__" in cls.__dict__
