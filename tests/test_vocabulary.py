"""The shared vocabulary: units from UNECE codes, paths as qualified names, and the published
contract (docs/opcua.md) naming every name the vocabulary defines."""
from pathlib import Path

import pytest

from adapters import vocabulary as v

DOC = (Path(__file__).resolve().parents[1] / "docs" / "opcua.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("unit,unit_id", [(v.CEL, 4408652), (v.MICROMETRE, 13384), (v.MPA, 5066817),
                                          (v.SEC, 5457219), (v.MILLIMETRE, 5066068), (v.ONE, 4404786)])
def test_unit_ids_follow_opc_10000_8(unit, unit_id):
    # OPC 10000-8 5.6.3: UnitId = the common code's characters packed big-endian into an Int32
    assert unit.unit_id == unit_id


def test_paths_are_qualified_names_element_by_element():
    p = v.result_path("WIP-1/2026.12:run 7")
    assert p[-1] == v.QName(v.PLANT_NS, "WIP-1/2026.12:run 7")
    assert p[:-1] == (v.lads("ProgramManager"), v.lads("ResultSet"))
    full = v.unit_path("WIP-1", v.Unit.PRESS_CHAMBER)
    assert full == (v.di("DeviceSet"), v.plant("WIP-1"), v.lads("FunctionalUnitSet"), v.plant("PressChamber"))
    assert v.UNIT_CURRENT_STATE[-1].namespace_uri == v.UA_NS


def test_contract_document_names_every_vocabulary_name():
    assert f"version {v.CONTRACT_VERSION}" in DOC
    names = ([e.value for e in v.ResultVar] + [e.value for e in v.UnitState] + [e.value for e in v.ItemState]
             + [e.value for e in v.Outcome] + [e.value for e in v.Template] + [e.value for e in v.Unit]
             + [e.value for e in v.Function] + list(v.PRESS_KEYS) + list(v.REFUSAL_STATUSES)
             + [u.code for u in v.FUNCTION_UNITS.values()] + [k for ks in v.FAULT_KINDS.values() for k in ks]
             + [v.PLANT_NS, v.LADS_NS, v.DI_NS, v.MACHINERY_NS, v.AMB_NS, v.UNECE_NS, v.TRUE_SURFACES_KEY])
    missing = sorted({n for n in names if n not in DOC})
    assert not missing, f"docs/opcua.md does not name {missing}"
    for g in range(1, 11):
        assert f"| G{g} |" in DOC


def test_properties_on_the_wire_round_trip():
    pairs = v.properties_from({"target_pressure_mpa": 375, "hold_s": 0.1 + 0.2})
    assert pairs == [("target_pressure_mpa", "375.0"), ("hold_s", repr(0.1 + 0.2))]
    assert float(pairs[1][1]) == 0.1 + 0.2
    with pytest.raises(TypeError):
        v.format_property(True)


def test_decisions_and_phases():
    assert v.Decision.from_wire("rework") is v.Decision.REWORK
    with pytest.raises(ValueError, match="accept"):
        v.Decision.from_wire("maybe")
    assert v.LAST_PHASE == 5 and [p.value for p in v.Phase] == list(range(6))
