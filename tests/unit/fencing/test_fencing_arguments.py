"""Agent input (spec F-22): order, renames, overrides, refusal of injected lines, and secret masking."""

from __future__ import annotations

import dataclasses

import pytest
from fencing_samples import ARTICLE, TWO_METHODS

from quorate.config import FenceDeviceRef, load_config, parse_config
from quorate.node.fence_exec import FenceConfigError, fence_arguments, is_manual, mask


def test_article_device_manual_is_fence_manual() -> None:
    config = load_config(ARTICLE)
    casper = config.node_by_name("casper.localdomain")
    assert casper is not None
    ref = casper.fence[0].devices[0]
    program, stdin = fence_arguments(config, casper, ref, None)
    assert program == "fence_manual"
    assert stdin == "nodename=casper.localdomain\nagent=fence_manual\n"
    device = config.fencedevice("manual")
    assert device is not None and is_manual(device) and is_manual("/usr/sbin/fence_manual")
    assert not is_manual("fence_ipmilan")


def test_two_methods_in_f22_order() -> None:
    config = parse_config(TWO_METHODS)
    balthasar = config.node_by_name("balthasar")
    assert balthasar is not None
    ipmi, netns = (m.devices[0] for m in balthasar.fence)
    assert fence_arguments(config, balthasar, ipmi, None) == (
        "fence_ipmilan",
        "lanplus=1\nnodename=balthasar.localdomain\n"
        "agent=fence_ipmilan\nipaddr=192.168.0.101\nlogin=admin\npasswd=ipmi-pw\ncipher=3\n",
    )
    assert fence_arguments(config, balthasar, netns, None)[1] == (
        "port=balthasar\nnodename=balthasar.localdomain\nagent=fence_netns\nipaddr=192.168.0.254\npasswd=switch-pw\n"
    )


def test_option_becomes_action_and_device_nodename_is_kept() -> None:
    config = parse_config(TWO_METHODS)
    casper = config.node_by_name("casper")
    assert casper is not None
    _, stdin = fence_arguments(config, casper, casper.fence[0].devices[0], None)
    assert stdin.splitlines()[:2] == ["action=off", "nodename=casper.localdomain"]
    _, stdin = fence_arguments(config, casper, casper.fence[1].devices[0], None)
    assert stdin.splitlines()[0] == "nodename=casper" and stdin.count("nodename=") == 1


def test_action_overrides_in_place_or_is_added_after_the_device_lines() -> None:
    config = parse_config(TWO_METHODS)
    casper = config.node_by_name("casper")
    balthasar = config.node_by_name("balthasar")
    assert casper is not None and balthasar is not None
    _, stdin = fence_arguments(config, casper, casper.fence[0].devices[0], "on")
    assert stdin.splitlines()[0] == "action=on" and stdin.count("action=") == 1
    _, stdin = fence_arguments(config, balthasar, balthasar.fence[0].devices[0], "on")
    assert stdin.splitlines()[:3] == ["lanplus=1", "action=on", "nodename=balthasar.localdomain"]
    # An action configured on the fencedevice is replaced too, or it would win (last value wins).
    device = config.fencedevice("switch")
    assert device is not None
    moved = dataclasses.replace(
        config, fencedevices=(dataclasses.replace(device, attrs=(*device.attrs, ("action", "reboot"))),)
    )
    _, stdin = fence_arguments(moved, balthasar, balthasar.fence[1].devices[0], "on")
    assert "action=reboot" not in stdin and stdin.count("action=on") == 1


def test_unknown_fencedevice_and_line_breaks_are_refused() -> None:
    config = parse_config(TWO_METHODS)
    casper = config.node_by_name("casper")
    assert casper is not None
    with pytest.raises(FenceConfigError, match="no fencedevice named 'nope'"):
        fence_arguments(config, casper, FenceDeviceRef("nope"), None)
    injected = FenceDeviceRef("switch", (("port", "casper\naction=on"),))
    with pytest.raises(FenceConfigError, match="line break"):
        fence_arguments(config, casper, injected, None)


def test_mask_hides_every_credential_and_nothing_else() -> None:
    text = (
        "port=3\nnodename=casper\nagent=fence_apc\nipaddr=10.0.0.1\nlogin=apc\npasswd=hunter2\n"
        "password=hunter3\npasswd_script=/usr/local/bin/pw\nsnmp_priv_passwd=p\ncommunity=private\n"
        "Password-Script=x\n"
    )
    masked = mask(text)
    for secret in ("hunter2", "hunter3", "/usr/local/bin/pw", "snmp_priv_passwd=p\n", "private", "=x"):
        assert secret not in masked
    assert masked.startswith("port=3\nnodename=casper\nagent=fence_apc\nipaddr=10.0.0.1\nlogin=apc\npasswd=***\n")
    assert masked.endswith("\n") and masked.count("***") == 6
    assert mask("no equals sign\n") == "no equals sign\n"


@pytest.mark.parametrize("name", ["casper\naction=on", "casper\raction=on", "casper\0"])
def test_a_node_name_with_a_line_break_or_nul_is_never_written_to_an_agent(name: str) -> None:
    """The loader refuses such names; a configuration built in a program is refused again here."""
    config = parse_config(TWO_METHODS)
    casper = config.node_by_name("casper")
    assert casper is not None
    renamed = dataclasses.replace(casper, name=name)
    with pytest.raises(FenceConfigError, match=r"nodename.*line break or NUL"):
        fence_arguments(config, renamed, FenceDeviceRef("switch", (("port", "3"),)), "off")
    with_nul = FenceDeviceRef("switch", (("port", "3\0"),))
    with pytest.raises(FenceConfigError, match="line break or NUL"):
        fence_arguments(config, casper, with_nul, "off")


def test_the_ipmi_kg_key_is_masked_like_a_password() -> None:
    text = "ipaddr=10.0.0.5\nlogin=admin\nhexadecimal_kg=0123456789abcdef\nhexadecimal-kg=fedcba\nlanplus=1\n"
    masked = mask(text)
    assert masked == "ipaddr=10.0.0.5\nlogin=admin\nhexadecimal_kg=***\nhexadecimal-kg=***\nlanplus=1\n"
