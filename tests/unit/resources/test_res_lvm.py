"""HA-LVM: ownership handover by VG tags (fake LVM and real PVs on loop devices), and the device-mapper refusal."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from res_helpers import config_of, sh

from quorate.config.rgtree import Node
from quorate.resources import build_trees
from quorate.resources.agents import AgentContext, LvmAgent
from quorate.resources.agents.lvm import device_mapper_available, run_lvm
from quorate.system.process import AgentResult

ME = "balthasar.localdomain"
OTHER = "casper.localdomain"


def lvm_node(vg: str, lv: str | None = "test_lv", **extra: str) -> Node:
    attrs = " ".join(f'{k}="{v}"' for k, v in extra.items())
    lv_attr = f'lv_name="{lv}"' if lv else ""
    tree = build_trees(config_of(f'<service name="s"><lvm name="tes_lv" vg_name="{vg}" {lv_attr} {attrs}/></service>'))
    node = tree["s"].find("lvm", "tes_lv")
    assert node is not None
    return node


def ctx(alive: Sequence[str] | None = None) -> AgentContext:
    member = None if alive is None else (lambda name: name in alive)
    return AgentContext(timeout=30, node_name=ME, is_member=member)


def result(argv: Sequence[str], rc: int = 0, out: str = "", err: str = "") -> AgentResult:
    return AgentResult(tuple(argv), rc, out, err, False, 0.01)


class FakeLvm:
    """vgs/lvs/vgchange/lvchange over an in-memory VG; activation obeys the volume_list given in --config."""

    def __init__(self, tags: Sequence[str] = (), lvs: Sequence[str] = ("test_lv",)) -> None:
        self.tags = list(tags)
        self.active = dict.fromkeys(lvs, False)
        self.calls: list[list[str]] = []
        self.broken: set[str] = set()

    async def __call__(self, argv: Sequence[str], timeout: float) -> AgentResult:
        args = list(argv)
        self.calls.append(args)
        verb = args[0]
        if verb == "vgs":
            return result(args, out=f"  magi_vg|{','.join(self.tags)}|\n")
        if verb == "lvs":
            rows = "".join(f"  {lv}|-wi-{'a' if on else '-'}-----\n" for lv, on in self.active.items())
            return result(args, out=rows)
        if "--addtag" in args:
            self.tags.append(args[args.index("--addtag") + 1])
            return result(args)
        if "--deltag" in args:
            self.tags.remove(args[args.index("--deltag") + 1])
            return result(args)
        flag = "-ay" if "-ay" in args else "-an"
        if f"{verb} {flag}" in self.broken:
            return result(args, 5, err="  device busy")
        allowed = args[args.index("--config") + 1]
        if flag == "-ay" and not any(f'"@{t}"' in allowed for t in self.tags):
            return result(args, 5, err="  not permitted by volume_list")
        for lv in self.active:
            self.active[lv] = flag == "-ay"
        return result(args)

    def verbs(self) -> list[str]:
        return [" ".join(c[:3]) for c in self.calls if c[0] not in ("vgs", "lvs")]


def agent_with(fake: FakeLvm, dm: bool = True) -> LvmAgent:
    return LvmAgent(lvm=fake, dm_available=lambda: dm)


def test_unowned_vg_is_claimed_activated_checked_and_released() -> None:
    fake = FakeLvm()
    agent = agent_with(fake)
    node = lvm_node("magi_vg")
    started = asyncio.run(agent.start(node, ctx([ME])))
    assert started.ok and started.message == f"LV magi_vg/test_lv active on {ME}"
    assert fake.tags == [ME] and fake.active == {"test_lv": True}
    assert fake.verbs() == [f"vgchange --addtag {ME}", "lvchange -ay --config"]
    assert fake.calls[-1][-1] == "magi_vg/test_lv" and f'"@{ME}"' in fake.calls[-1][3]
    assert asyncio.run(agent.status(node, 0, ctx([ME]))).ok
    stopped = asyncio.run(agent.stop(node, ctx([ME])))
    assert stopped.ok and fake.tags == [] and fake.active == {"test_lv": False}
    status = asyncio.run(agent.status(node, 0, ctx([ME])))
    assert not status.ok and f"not owned by {ME}" in status.message


def test_vg_of_a_dead_node_is_taken_over() -> None:
    fake = FakeLvm(tags=[OTHER])
    started = asyncio.run(agent_with(fake).start(lvm_node("magi_vg"), ctx([ME, "melchior.localdomain"])))
    assert started.ok and started.message.endswith(f"(taken over from {OTHER})")
    assert fake.tags == [ME]
    assert fake.verbs()[:2] == [f"vgchange --deltag {OTHER}", f"vgchange --addtag {ME}"]


@pytest.mark.parametrize("alive", [[ME, OTHER], None], ids=["live owner", "unknown membership"])
def test_vg_of_a_live_or_unknown_node_is_refused_untouched(alive: list[str] | None) -> None:
    fake = FakeLvm(tags=[OTHER])
    refused = asyncio.run(agent_with(fake).start(lvm_node("magi_vg"), ctx(alive)))
    assert not refused.ok and refused.message == f"volume group magi_vg is owned by live node {OTHER}; refusing it"
    assert fake.tags == [OTHER] and fake.verbs() == []


def test_our_own_tag_is_reused_and_a_failed_activation_releases_the_claim() -> None:
    fake = FakeLvm(tags=[ME])
    agent = agent_with(fake)
    assert asyncio.run(agent.start(lvm_node("magi_vg"), ctx([ME]))).ok
    assert fake.verbs() == ["lvchange -ay --config"]
    fresh = FakeLvm()
    fresh.broken.add("lvchange -ay")
    failed = asyncio.run(agent_with(fresh).start(lvm_node("magi_vg"), ctx([ME])))
    assert not failed.ok and "activating LV magi_vg/test_lv failed: device busy" in failed.message
    assert fresh.tags == []


def test_whole_vg_mode_and_a_missing_lv() -> None:
    fake = FakeLvm(lvs=("a", "b"))
    agent = agent_with(fake)
    whole = lvm_node("magi_vg", lv=None)
    assert asyncio.run(agent.start(whole, ctx([ME]))).message == f"VG magi_vg active on {ME}"
    assert fake.calls[-1][:2] == ["vgchange", "-ay"] and fake.calls[-1][-1] == "magi_vg"
    assert asyncio.run(agent.status(whole, 0, ctx([ME]))).ok
    missing = asyncio.run(agent_with(FakeLvm()).start(lvm_node("magi_vg", lv="nope"), ctx([ME])))
    assert not missing.ok and missing.message == "logical volume magi_vg/nope not found"


def test_a_failed_deactivation_fails_the_stop_with_self_fence() -> None:
    fake = FakeLvm(tags=[ME])
    fake.active["test_lv"] = True
    fake.broken.add("lvchange -an")
    stopped = asyncio.run(agent_with(fake).stop(lvm_node("magi_vg", self_fence="1"), ctx([ME])))
    assert not stopped.ok and stopped.self_fence and fake.tags == [ME]


def test_without_device_mapper_activation_fails_clearly_and_nothing_is_claimed() -> None:
    fake = FakeLvm()
    refused = asyncio.run(agent_with(fake, dm=False).start(lvm_node("magi_vg"), ctx([ME])))
    assert (refused.ok, refused.rc) == (False, 5)
    assert refused.message == "device-mapper is not available on this node: cannot activate LV magi_vg/test_lv"
    assert fake.tags == [] and fake.verbs() == []
    assert asyncio.run(agent_with(fake, dm=False).stop(lvm_node("magi_vg"), ctx([ME]))).ok


def test_this_machine_has_no_device_mapper_so_the_article_service_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert device_mapper_available() is False
    from quorate.cli import rg_test

    article = Path(__file__).resolve().parents[2] / "fixtures" / "article" / "cluster-2.conf"
    assert rg_test.main(["test", str(article), "start", "service", "test"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[3] == (
        "[start] lvm:tes_lv failed: device-mapper is not available on this node: cannot activate LV magi_vg/test_lv"
    )
    assert out[-1].startswith("Failed to start test: lvm:tes_lv failed: device-mapper is not available")


# ---------------------------------------------------------------- real LVM metadata on loop devices


@pytest.fixture
def volume_group(require_root: None, tmp_path: Path) -> Iterator[str]:
    """A real VG on a loop-device PV (metadata only: this machine cannot activate LVs)."""
    image = tmp_path / "pv.img"
    with open(image, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    device = sh("losetup", "--find", "--show", str(image)).stdout.strip()
    name = f"qt_{uuid.uuid4().hex[:8]}"
    env = {"LVM_SUPPRESS_FD_WARNINGS": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    try:
        subprocess.run(["pvcreate", "-q", device], check=True, capture_output=True, env=env, timeout=60)
        subprocess.run(["vgcreate", "-q", name, device], check=True, capture_output=True, env=env, timeout=60)
        yield name
    finally:
        subprocess.run(["vgremove", "-f", name], capture_output=True, env=env, timeout=60)
        subprocess.run(["pvremove", "-q", device], capture_output=True, env=env, timeout=60)
        sh("losetup", "-d", device, check=False)


def real_tags(vg: str) -> list[str]:
    done = subprocess.run(
        ["vgs", "--noheadings", "-o", "vg_tags", vg],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"LVM_SUPPRESS_FD_WARNINGS": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    return [t for t in done.stdout.strip().split(",") if t]


def test_real_vg_refuses_activation_without_device_mapper(volume_group: str) -> None:
    refused = asyncio.run(LvmAgent().start(lvm_node(volume_group, lv="test_lv"), ctx([ME])))
    assert not refused.ok
    assert refused.message == f"device-mapper is not available on this node: cannot activate LV {volume_group}/test_lv"
    assert real_tags(volume_group) == []
    missing = asyncio.run(LvmAgent(dm_available=lambda: True).start(lvm_node("qt_no_such_vg"), ctx([ME])))
    assert not missing.ok and missing.message == "volume group qt_no_such_vg not found"


def test_real_vg_tags_are_stolen_from_a_dead_owner_claimed_and_released(volume_group: str) -> None:
    subprocess.run(["vgchange", "--addtag", OTHER, volume_group], check=True, capture_output=True, timeout=60)
    # Device-mapper is declared present so the metadata side runs for real; a whole VG without LVs activates
    # trivially, which is all this machine can do.
    agent = LvmAgent(lvm=run_lvm, dm_available=lambda: True)
    node = lvm_node(volume_group, lv=None)
    refused = asyncio.run(agent.start(node, ctx([ME, OTHER])))
    assert not refused.ok and real_tags(volume_group) == [OTHER]
    taken = asyncio.run(agent.start(node, ctx([ME])))
    assert taken.ok, taken.message
    assert real_tags(volume_group) == [ME]
    assert asyncio.run(agent.stop(node, ctx([ME]))).ok
    assert real_tags(volume_group) == []


def test_names_are_passed_after_the_end_of_options() -> None:
    fake = FakeLvm()
    assert asyncio.run(agent_with(fake).start(lvm_node("magi_vg"), ctx([ME]))).ok
    for call in fake.calls:
        assert call[-2] == "--" and call[-1] in ("magi_vg", "magi_vg/test_lv"), call


@pytest.mark.parametrize(
    ("changes", "node_name", "words"),
    [
        ({"vg_name": "--config=devices{filter=[]}"}, ME, "vg_name: '--config=devices{filter=[]}' begins with '-'"),
        ({"lv_name": "-ay"}, ME, "lv_name: '-ay' begins with '-'"),
        ({}, 'a" ] } global { x = [ "b', "cannot be an LVM tag"),
    ],
)
def test_names_lvm_would_misread_never_reach_an_lvm_command(
    changes: dict[str, str], node_name: str, words: str
) -> None:
    """The loader refuses these; a tree built by other means is refused again before any LVM command."""
    node = lvm_node("magi_vg")
    node = dataclasses.replace(node, attrs={**node.attrs, **changes})
    fake = FakeLvm()
    here = AgentContext(timeout=30, node_name=node_name, is_member=lambda name: name == node_name)
    for outcome in (
        asyncio.run(agent_with(fake).start(node, here)),
        asyncio.run(agent_with(fake).stop(node, here)),
        asyncio.run(agent_with(fake).status(node, 0, here)),
    ):
        assert not outcome.ok and words in outcome.message
    assert fake.calls == []
