"""The twin's OPC UA client ports: stations bound in the scenario's `hardware:` section talk to
LADS devices (or devices a profile maps) over secure sessions; every other station keeps its
in-process port. Modules: paths (browse paths by namespace URI), profiles (device profiles
and units), session/linklog (one supervised session per device), programs (start,
completion, result), results (trust checks), press/instruments (the ports), dispositions
(the persistent outbox), link/wiring (bindings, connect-time checks, the line's ports)."""
from adapters.opcua.link import BindingMismatch, Bound, DeviceRun, HardwareLink, Need
from adapters.opcua.linklog import ConfigurationRefused, DeviceRefused, DeviceUnavailable, LinkLost, Reading
from adapters.opcua.profiles import Profile, ProfileError, load_profile
from adapters.opcua.programs import CycleLost, ProgramNodes, StartAttempt, StartFailed, start_program, wait_result
from adapters.opcua.results import press_result_problems, trace_problems
from adapters.opcua.session import DeviceSession
from adapters.opcua.wiring import binding_profiles, build_link, hardware_ports

__all__ = ["BindingMismatch", "Bound", "ConfigurationRefused", "CycleLost", "DeviceRefused", "DeviceRun",
           "DeviceSession", "DeviceUnavailable", "HardwareLink", "LinkLost", "Need", "Profile", "ProfileError",
           "ProgramNodes", "Reading", "StartAttempt", "StartFailed", "binding_profiles", "build_link",
           "hardware_ports", "load_profile", "press_result_problems", "start_program", "trace_problems",
           "wait_result"]
