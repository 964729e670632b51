"""Wiring: a `HardwareLink` for a scenario's bindings (session, profile and program nodes per
binding) and the line's ports, bound stations on equipment and the rest on the fallback."""
from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any, Callable

from adapters.opcua.dispositions import OpcuaDispositionPort, Outbox
from adapters.opcua.instruments import OpcuaGloveboxPort, OpcuaMetrologyPort
from adapters.opcua.link import Bound, DeviceRun, HardwareLink, Need
from adapters.opcua.paths import substitute
from adapters.opcua.press import OpcuaPressPort
from adapters.opcua.profiles import Profile, ProfileError, load_profile
from adapters.opcua.programs import ProgramNodes
from adapters.opcua.session import DeviceSession, ServerCheck
from adapters.ports import Ports
from adapters.settings import Hardware


def binding_profiles(hardware: Hardware, base: FsPath | None) -> dict[str, Profile]:
    """The profile of every binding; ProfileError naming the binding's field."""
    out = {}
    for name, b in hardware.bindings.items():
        try:
            out[name] = load_profile(b.profile, base)
        except ProfileError as exc:
            raise ProfileError(f"hardware.bindings.{name}.profile: {exc}") from None
    return out


def program_section(profile: Profile, role: str) -> Any:
    """The profile's section for a station role (press, profilometer); None for a glovebox."""
    if role == "press":
        if profile.press is None:
            raise ProfileError(f"profile '{profile.profile}' has no press section")
        return profile.press
    if role == "profilometer":
        if profile.profilometer is None:
            raise ProfileError(f"profile '{profile.profile}' has no profilometer section")
        return profile.profilometer
    if profile.glovebox is None:
        raise ProfileError(f"profile '{profile.profile}' has no glovebox section")
    return None


def build_link(env: Any, hardware: Hardware, targets: dict[str, tuple[str, str]], needs: dict[str, Need],
               profiles: dict[str, Profile], credentials: tuple[str, str] | None,
               client_cert: tuple[FsPath, FsPath] | None, tag: str, time_scale: float,
               server_check: ServerCheck | None = None) -> HardwareLink:
    """`targets`: binding -> (device name, endpoint); `needs`: binding -> what its station asks."""
    bound = {}
    for name, (device, endpoint) in targets.items():
        profile = profiles[name]
        need = needs[name]
        section = program_section(profile, need.role)
        device_path = substitute(profile.path(profile.device), device=device)
        session = DeviceSession(device, endpoint, hardware.connection, credentials, client_cert, device_path,
                                server_check)
        nodes = ProgramNodes.of(profile, section) if section is not None else None
        bound[name] = Bound(name, hardware.bindings[name], session, profile, need, nodes)
    return HardwareLink(env, hardware, bound, tag, time_scale)


def hardware_ports(link: HardwareLink, sim: Ports, disposition_listeners: list[Callable[[dict], None]]
                   ) -> tuple[Ports, Outbox]:
    """The line's ports (bound stations on equipment, the rest on `sim`) and the outbox of
    decisions (start it once the link is open)."""
    press_of_run: dict[str, str] = {}

    def remember(run: DeviceRun) -> None:
        if run.run_id:  # also a failed run: its cells' reject goes to the device that ran it
            press_of_run[run.run_id] = run.station

    link.run_listeners.append(remember)
    outbox = Outbox(link, disposition_listeners)
    ports = Ports(
        press=OpcuaPressPort(link, sim.press),
        metrology=OpcuaMetrologyPort(link, sim.metrology),
        glovebox=OpcuaGloveboxPort(link, sim.glovebox),
        disposition=OpcuaDispositionPort(link, outbox, press_of_run),
    )
    return ports, outbox
