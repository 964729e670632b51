"""THE vocabulary shared by the plant's servers (plant/) and the twin's adapters (adapters/), so the
two sides cannot drift: namespace URIs, browse paths as tuples of qualified names, state and
outcome names, program templates, StartProgram property keys, Result variable names, trace
phase codes, units (UNECE codes) and status-code classes. docs/opcua.md is the prose of the
same contract; every name used there is defined here.

Browse paths are tuples of ``QName(namespace_uri, name)``. They are resolved element by
element (TranslateBrowsePathsToNodeIds or browse), the namespace looked up by URI in the
server's NamespaceArray, never by index and never by joining strings (run ids may contain
"/" or "."). Paths named ``*_PATH`` start at the Objects folder; ``UNIT_*`` paths are relative
to a functional unit, ``RESULT_*`` to a Result, ``FUNCTION_*`` to a function.

The decision is an IntEnum because the interface model and the line work with its integer
codes (0 accept, 1 rework, 2 reject, a contract of `twin.interface.evaluate`), while the
wire carries its lower-case name (`SetDisposition(..., Decision="accept", ...)`).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

CONTRACT_VERSION = "1.0"  # docs/opcua.md version this module implements

# ----- namespaces ------------------------------------------------------------------------
UA_NS = "http://opcfoundation.org/UA/"
DI_NS = "http://opcfoundation.org/UA/DI/"
AMB_NS = "http://opcfoundation.org/UA/AMB/"
MACHINERY_NS = "http://opcfoundation.org/UA/Machinery/"
LADS_NS = "http://opcfoundation.org/UA/LADS/"
PLANT_NS = "urn:twin:plant"
PLANT_NAMESPACE = PLANT_NS  # earlier name, kept for callers
UNECE_NS = "http://www.opcfoundation.org/UA/units/un/cefact"  # EUInformation.NamespaceUri


@dataclass(frozen=True)
class QName:
    """A browse name: namespace URI and name (the index is looked up per server)."""

    namespace_uri: str
    name: str

    def __str__(self) -> str:
        return f"{{{self.namespace_uri}}}{self.name}"


Path = tuple[QName, ...]


def ua_(name: str) -> QName:
    """A name in the OPC UA base namespace (index 0)."""
    return QName(UA_NS, name)


def di(name: str) -> QName:
    """A name in the DI namespace."""
    return QName(DI_NS, name)


def machinery(name: str) -> QName:
    """A name in the Machinery namespace."""
    return QName(MACHINERY_NS, name)


def lads(name: str) -> QName:
    """A name in the LADS namespace."""
    return QName(LADS_NS, name)


def plant(name: str) -> QName:
    """A name in the project's namespace (device, unit, function, template and run names; extensions)."""
    return QName(PLANT_NS, name)


# ----- type definitions (namespace URI, numeric id in that namespace's nodeset) --------------
@dataclass(frozen=True)
class TypeId:
    """A type node: namespace URI and numeric identifier from the official nodeset."""

    namespace_uri: str
    identifier: int
    name: str


LADS_DEVICE_TYPE = TypeId(LADS_NS, 1002, "LADSDeviceType")
FUNCTIONAL_UNIT_TYPE = TypeId(LADS_NS, 1003, "FunctionalUnitType")
ANALOG_CONTROL_FUNCTION_TYPE = TypeId(LADS_NS, 1009, "AnalogControlFunctionType")
ANALOG_SCALAR_SENSOR_FUNCTION_TYPE = TypeId(LADS_NS, 1016, "AnalogScalarSensorFunctionType")
PROGRAM_TEMPLATE_TYPE = TypeId(LADS_NS, 1018, "ProgramTemplateType")
RESULT_TYPE = TypeId(LADS_NS, 1021, "ResultType")
KEY_VALUE_TYPE = TypeId(LADS_NS, 3003, "KeyValueType")
SAMPLE_INFO_TYPE = TypeId(LADS_NS, 3002, "SampleInfoType")
KEY_VALUE_BINARY_ENCODING = TypeId(LADS_NS, 5045, "KeyValueType Default Binary")
SAMPLE_INFO_BINARY_ENCODING = TypeId(LADS_NS, 5042, "SampleInfoType Default Binary")
MACHINERY_ITEM_STATE_TYPE = TypeId(MACHINERY_NS, 1002, "MachineryItemState_StateMachineType")
DI_DEVICE_SET = TypeId(DI_NS, 5001, "DeviceSet")  # the DeviceSet object of the DI nodeset

# ----- devices and their parts ------------------------------------------------------------
DEVICE_SET_PATH: Path = (di("DeviceSet"),)


def device_path(device: str) -> Path:
    """Objects/DI:DeviceSet/plant:<Device> (a LADSDeviceType instance)."""
    return DEVICE_SET_PATH + (plant(device),)


# below a device
IDENTIFICATION: Path = (di("Identification"),)
IDENTIFICATION_KEYS: tuple[str, ...] = ("Manufacturer", "Model", "SerialNumber", "SoftwareRevision",
                                        "DeviceRevision", "HardwareRevision", "ProductInstanceUri",
                                        "AssetId", "ComponentName", "DeviceClass")


def identification(key: str) -> Path:
    """DI:Identification/DI:<key> below a device (Manufacturer, Model, SerialNumber, ...)."""
    return IDENTIFICATION + (di(key),)


ITEM_STATE: Path = (machinery("MachineryItemState"), ua_("CurrentState"))
DEVICE_STATE: Path = (lads("DeviceState"), ua_("CurrentState"))
FAULTS: Path = (plant("Faults"),)  # extension object below the device
ACTIVE_FAULTS: Path = FAULTS + (plant("Active"),)  # String[]
INJECT_FAULT: Path = FAULTS + (plant("InjectFault"),)  # test endpoints only


# functional units
class Unit(str, Enum):
    """Functional unit browse names (in PLANT_NS) below LADS:FunctionalUnitSet."""

    PRESS_CHAMBER = "PressChamber"
    MAIN_CHAMBER = "MainChamber"
    PROFILER = "Profiler"


def unit_path(device: str, unit: Unit | str) -> Path:
    """Objects/DI:DeviceSet/plant:<Device>/LADS:FunctionalUnitSet/plant:<Unit>."""
    return device_path(device) + (lads("FunctionalUnitSet"), plant(Unit(unit).value))


# below a functional unit
UNIT_STATE: Path = (lads("FunctionalUnitState"),)
UNIT_CURRENT_STATE: Path = UNIT_STATE + (ua_("CurrentState"),)
UNIT_START_PROGRAM: Path = UNIT_STATE + (lads("StartProgram"),)
UNIT_STOP: Path = UNIT_STATE + (lads("Stop"),)
UNIT_ABORT: Path = UNIT_STATE + (lads("Abort"),)
UNIT_CLEAR: Path = UNIT_STATE + (lads("Clear"),)
UNIT_CAPACITY: Path = (plant("Capacity"),)  # extension: most Samples one program takes (UInt32)
UNIT_PROGRAM_MANAGER: Path = (lads("ProgramManager"),)
UNIT_TEMPLATE_SET: Path = UNIT_PROGRAM_MANAGER + (lads("ProgramTemplateSet"),)
UNIT_ACTIVE_PROGRAM: Path = UNIT_PROGRAM_MANAGER + (lads("ActiveProgram"),)
UNIT_RESULT_SET: Path = UNIT_PROGRAM_MANAGER + (lads("ResultSet"),)
UNIT_SET_DISPOSITION: Path = UNIT_PROGRAM_MANAGER + (plant("SetDisposition"),)  # extension
UNIT_EXCURSIONS: Path = (plant("Excursions"),)  # extension (glovebox MainChamber): JSON String
UNIT_MAX_BETWEEN: Path = (plant("MaxBetween"),)  # extension (glovebox MainChamber): method
ACTIVE_PROGRAM_KEYS: tuple[str, ...] = ("DeviceProgramRunId", "CurrentRuntime", "EstimatedRuntime",
                                        "CurrentStepName", "CurrentStepNumber", "EstimatedStepNumbers")


def active_program(key: str) -> Path:
    """LADS:ProgramManager/LADS:ActiveProgram/LADS:<key> below a unit."""
    return UNIT_ACTIVE_PROGRAM + (lads(key),)


def template_path(template: str) -> Path:
    """LADS:ProgramManager/LADS:ProgramTemplateSet/plant:<TemplateId> below a unit."""
    return UNIT_TEMPLATE_SET + (plant(template),)


TEMPLATE_ESTIMATED_RUNTIME: Path = (plant("EstimatedRuntime"),)  # Duration (ms) of a nominal run
TEMPLATE_REQUIRED_KEYS: Path = (plant("RequiredPropertyKeys"),)  # String[]
TEMPLATE_DEFAULT_PROPERTIES: Path = (plant("DefaultProperties"),)  # KeyValueType[]
TEMPLATE_PROPERTY_LIMITS: Path = (plant("PropertyLimits"),)  # KeyValueType[]: "<key>.min" / "<key>.max" -> decimal


def result_path(run_id: str) -> Path:
    """LADS:ProgramManager/LADS:ResultSet/plant:<RunId> below a unit (any characters in RunId)."""
    return UNIT_RESULT_SET + (plant(run_id),)


# below a Result (standard ResultType properties in LADS_NS)
RESULT_STARTED: Path = (lads("Started"),)
RESULT_STOPPED: Path = (lads("Stopped"),)
RESULT_JOB_ID: Path = (lads("SupervisoryJobId"),)
RESULT_TASK_ID: Path = (lads("SupervisoryTaskId"),)
RESULT_RUN_ID: Path = (lads("DeviceProgramRunId"),)
RESULT_SAMPLES: Path = (lads("Samples"),)
RESULT_PROPERTIES: Path = (lads("Properties"),)
RESULT_TOTAL_RUNTIME: Path = (lads("TotalRuntime"),)
RESULT_VARIABLE_SET: Path = (lads("VariableSet"),)
RESULT_DISPOSITIONS: Path = (plant("Dispositions"),)  # extension: JSON String, initially "{}"


def result_variable(name: str) -> Path:
    """LADS:VariableSet/plant:<name> below a Result."""
    return RESULT_VARIABLE_SET + (plant(name),)


# functions (below a unit)
def function_path(function: str) -> Path:
    """LADS:FunctionSet/plant:<Function> below a unit."""
    return (lads("FunctionSet"), plant(function))


CURRENT_VALUE = lads("CurrentValue")  # AnalogControlFunction
TARGET_VALUE = lads("TargetValue")  # AnalogControlFunction
SENSOR_VALUE = lads("SensorValue")  # AnalogScalarSensorFunction
RAW_VALUE = lads("RawValue")  # AnalogScalarSensorFunction
ENGINEERING_UNITS = ua_("EngineeringUnits")  # property of every analog variable
EU_RANGE = ua_("EURange")  # property of every analog variable


class Function(str, Enum):
    """Function browse names (in PLANT_NS) below LADS:FunctionSet."""

    PRESSURE = "Pressure"  # PressChamber, AnalogControlFunction, MPa
    TEMPERATURE = "Temperature"  # PressChamber, AnalogControlFunction, Cel
    O2 = "O2"  # MainChamber, AnalogScalarSensorFunction, ppm
    H2O = "H2O"  # MainChamber, AnalogScalarSensorFunction, ppm
    SQ = "Sq"  # Profiler, AnalogScalarSensorFunction, um
    SDQ = "Sdq"  # Profiler, AnalogScalarSensorFunction, 1
    PV = "PV"  # Profiler, AnalogScalarSensorFunction, um
    WAVINESS = "Waviness"  # Profiler, AnalogScalarSensorFunction, um
    WAVINESS_WAVELENGTH = "WavinessWavelength"  # Profiler, AnalogScalarSensorFunction, mm


CONTROL_FUNCTIONS: tuple[Function, ...] = (Function.PRESSURE, Function.TEMPERATURE)


# ----- states ------------------------------------------------------------------------------
class UnitState(str, Enum):
    """FunctionalUnitState/CurrentState (LADS FunctionalStateMachineType) display names."""

    STOPPED = "Stopped"
    RUNNING = "Running"
    STOPPING = "Stopping"
    ABORTING = "Aborting"
    ABORTED = "Aborted"
    CLEARING = "Clearing"


UNIT_STATE_IDS: dict[UnitState, int] = {  # state nodes of FunctionalStateMachineType in LADS_NS
    UnitState.STOPPED: 5085, UnitState.RUNNING: 5099, UnitState.STOPPING: 5100,
    UnitState.ABORTING: 5159, UnitState.ABORTED: 5160, UnitState.CLEARING: 5143}


class ItemState(str, Enum):
    """MachineryItemState/CurrentState (Machinery) display names."""

    NOT_AVAILABLE = "NotAvailable"
    OUT_OF_SERVICE = "OutOfService"
    EXECUTING = "Executing"
    NOT_EXECUTING = "NotExecuting"


ITEM_STATE_IDS: dict[ItemState, int] = {  # state nodes of MachineryItemState_StateMachineType
    ItemState.NOT_AVAILABLE: 5005, ItemState.OUT_OF_SERVICE: 5004, ItemState.EXECUTING: 5006,
    ItemState.NOT_EXECUTING: 5007}


class Outcome(str, Enum):
    """VariableSet/plant:Outcome of a Result: how the run ended. Only COMPLETED may be accepted."""

    COMPLETED = "Completed"
    STOPPED = "Stopped"  # LADS Stop: vented early on request
    ABORTED = "Aborted"  # LADS Abort
    FAULT = "Fault"  # the device detected a fault (names in Faults)


# ----- programs ----------------------------------------------------------------------------
class Template(str, Enum):
    """ProgramTemplateIds (DeviceTemplateId == browse name in PLANT_NS)."""

    PRESS_CYCLE = "PressCycle"
    ANTECHAMBER_TRANSFER = "AntechamberTransfer"
    MEASURE_COLLECTOR = "MeasureCollector"


UNIT_OF_TEMPLATE: dict[Template, Unit] = {
    Template.PRESS_CYCLE: Unit.PRESS_CHAMBER, Template.ANTECHAMBER_TRANSFER: Unit.MAIN_CHAMBER,
    Template.MEASURE_COLLECTOR: Unit.PROFILER}

# StartProgram Properties (KeyValueType Key -> Value as a decimal string)
PRESS_KEYS: tuple[str, ...] = ("target_pressure_mpa", "ramp_rate_mpa_s", "hold_s", "temperature_c",
                               "decompression_rate_mpa_s")
TRUE_SURFACES_KEY = "true_surfaces"  # MeasureCollector, emulator only: JSON {sample_id: {sq_um, ...}}
REQUIRED_KEYS: dict[Template, tuple[str, ...]] = {
    Template.PRESS_CYCLE: PRESS_KEYS, Template.ANTECHAMBER_TRANSFER: (), Template.MEASURE_COLLECTOR: ()}
OPTIONAL_KEYS: dict[Template, tuple[str, ...]] = {
    Template.PRESS_CYCLE: (), Template.ANTECHAMBER_TRANSFER: (),
    Template.MEASURE_COLLECTOR: (TRUE_SURFACES_KEY,)}


def format_property(value: float | int | str) -> str:
    """A property value on the wire: numbers as shortest round-trip decimal strings."""
    if isinstance(value, bool):
        raise TypeError("booleans are not property values")
    if isinstance(value, (int, float)):
        return repr(float(value))
    return str(value)


def properties_from(mapping: dict[str, float | int | str]) -> list[tuple[str, str]]:
    """(Key, Value) pairs for StartProgram's Properties, in the mapping's order."""
    return [(k, format_property(v)) for k, v in mapping.items()]


class Phase(IntEnum):
    """Press trace phase codes (Trace JSON "phase"); a completed run ends in UNLOADING (5)."""

    LOADING = 0
    HEATING = 1
    RAMPING = 2
    HOLDING = 3
    DECOMPRESSING = 4
    UNLOADING = 5


LAST_PHASE = Phase.UNLOADING


# ----- Result variables (VariableSet, PLANT_NS names) -------------------------------------
class ResultVar(str, Enum):
    """Variables of a Result's VariableSet."""

    OUTCOME = "Outcome"  # String, an Outcome value (all templates)
    SAMPLE_IDS = "SampleIds"  # String[], in Samples order (all templates)
    FAULTS = "Faults"  # String[], fault kinds seen (all templates; empty if none)
    TRACE = "Trace"  # String, JSON (all templates)
    DURATION = "Duration_s"  # Double, simulated s (all templates)
    PEAK_PRESSURE = "PeakPressure_MPa"
    HOLD_PRESSURE_MEAN = "HoldPressureMean_MPa"
    HOLD_PRESSURE_STD = "HoldPressureStd_MPa"
    PRESSURE_CV = "PressureCV"
    HOLD_DURATION = "HoldDuration_s"
    MEAN_TEMPERATURE = "MeanTemperature_C"
    CELL_PRESSURES = "CellPressures_MPa"  # Double[] per sample
    CELL_PRESSURE_CV = "CellPressureCV"  # Double[] per sample
    MAX_O2 = "MaxO2_ppm"
    MAX_H2O = "MaxH2O_ppm"
    SQ = "Sq_um"  # Double[] per sample
    SDQ = "Sdq"
    PV = "PV_um"
    WAVINESS = "Waviness_um"
    WAVINESS_WAVELENGTH = "WavinessWavelength_mm"
    CUTOFF_SHORT = "CutoffShort_um"


COMMON_RESULT_VARS: tuple[ResultVar, ...] = (ResultVar.OUTCOME, ResultVar.SAMPLE_IDS, ResultVar.FAULTS,
                                             ResultVar.TRACE, ResultVar.DURATION)
RESULT_VARS: dict[Template, tuple[ResultVar, ...]] = {
    Template.PRESS_CYCLE: COMMON_RESULT_VARS + (
        ResultVar.PEAK_PRESSURE, ResultVar.HOLD_PRESSURE_MEAN, ResultVar.HOLD_PRESSURE_STD,
        ResultVar.PRESSURE_CV, ResultVar.HOLD_DURATION, ResultVar.MEAN_TEMPERATURE,
        ResultVar.CELL_PRESSURES, ResultVar.CELL_PRESSURE_CV),
    Template.ANTECHAMBER_TRANSFER: COMMON_RESULT_VARS + (ResultVar.MAX_O2, ResultVar.MAX_H2O),
    Template.MEASURE_COLLECTOR: COMMON_RESULT_VARS + (
        ResultVar.SQ, ResultVar.SDQ, ResultVar.PV, ResultVar.WAVINESS, ResultVar.WAVINESS_WAVELENGTH,
        ResultVar.CUTOFF_SHORT),
}
PER_SAMPLE_VARS: frozenset[ResultVar] = frozenset({
    ResultVar.CELL_PRESSURES, ResultVar.CELL_PRESSURE_CV, ResultVar.SQ, ResultVar.SDQ, ResultVar.PV,
    ResultVar.WAVINESS, ResultVar.WAVINESS_WAVELENGTH})
TRACE_KEYS: dict[Template, tuple[str, ...]] = {  # required keys of the Trace JSON object
    Template.PRESS_CYCLE: ("t_s", "p_mpa", "temp_c", "phase"),
    Template.ANTECHAMBER_TRANSFER: ("t_s", "o2_ppm", "h2o_ppm"),
    Template.MEASURE_COLLECTOR: ("sample_ids",),
}


# ----- units (UNECE Recommendation 20 common codes) ----------------------------------------
@dataclass(frozen=True)
class EngineeringUnit:
    """An EUInformation: UNECE common code, its UnitId, display name and description."""

    code: str
    display: str
    description: str

    @property
    def unit_id(self) -> int:
        """UnitId as OPC 10000-8 computes it from the common code (bytes packed big-endian)."""
        out = 0
        for ch in self.code:
            out = (out << 8) | ord(ch)
        return out


MPA = EngineeringUnit("MPA", "MPa", "megapascal")
CEL = EngineeringUnit("CEL", "°C", "degree Celsius")
SEC = EngineeringUnit("SEC", "s", "second")
PPM = EngineeringUnit("59", "ppm", "part per million")
MICROMETRE = EngineeringUnit("4H", "µm", "micrometre")
MILLIMETRE = EngineeringUnit("MMT", "mm", "millimetre")
ONE = EngineeringUnit("C62", "1", "one (dimensionless)")

FUNCTION_UNITS: dict[Function, EngineeringUnit] = {
    Function.PRESSURE: MPA, Function.TEMPERATURE: CEL, Function.O2: PPM, Function.H2O: PPM,
    Function.SQ: MICROMETRE, Function.SDQ: ONE, Function.PV: MICROMETRE, Function.WAVINESS: MICROMETRE,
    Function.WAVINESS_WAVELENGTH: MILLIMETRE}
UNIT_FUNCTIONS: dict[Unit, tuple[Function, ...]] = {
    Unit.PRESS_CHAMBER: (Function.PRESSURE, Function.TEMPERATURE),
    Unit.MAIN_CHAMBER: (Function.O2, Function.H2O),
    Unit.PROFILER: (Function.SQ, Function.SDQ, Function.PV, Function.WAVINESS, Function.WAVINESS_WAVELENGTH)}
RESULT_VAR_UNITS: dict[ResultVar, EngineeringUnit] = {
    ResultVar.DURATION: SEC, ResultVar.PEAK_PRESSURE: MPA, ResultVar.HOLD_PRESSURE_MEAN: MPA,
    ResultVar.HOLD_PRESSURE_STD: MPA, ResultVar.PRESSURE_CV: ONE, ResultVar.HOLD_DURATION: SEC,
    ResultVar.MEAN_TEMPERATURE: CEL, ResultVar.CELL_PRESSURES: MPA, ResultVar.CELL_PRESSURE_CV: ONE,
    ResultVar.MAX_O2: PPM, ResultVar.MAX_H2O: PPM, ResultVar.SQ: MICROMETRE, ResultVar.SDQ: ONE,
    ResultVar.PV: MICROMETRE, ResultVar.WAVINESS: MICROMETRE, ResultVar.WAVINESS_WAVELENGTH: MILLIMETRE,
    ResultVar.CUTOFF_SHORT: MICROMETRE}

# ----- faults (extension, test endpoints) ----------------------------------------------------
FAULT_KINDS: dict[Unit, tuple[str, ...]] = {
    Unit.PRESS_CHAMBER: ("leak", "overpressure", "heater", "comm_loss"),
    Unit.MAIN_CHAMBER: ("leak", "antechamber", "comm_loss"),
    Unit.PROFILER: ("comm_loss",)}
EXCURSION_PREFIX = "excursion:"  # Faults/Active entry of an open glovebox excursion ("excursion:o2_ppm")

# ----- status codes --------------------------------------------------------------------------
# Every DataValue whose StatusCode is not Good quarantines the data it belongs to (Uncertain too).
# Method refusals the contract names (StatusCodes attribute names):
ARGUMENT_STATUSES: tuple[str, ...] = ("BadArgumentsMissing", "BadTooManyArguments", "BadInvalidArgument",
                                      "BadTypeMismatch")
REFUSAL_STATUSES: tuple[str, ...] = ARGUMENT_STATUSES + ("BadOutOfRange", "BadInvalidState",
                                                         "BadResourceUnavailable", "BadUserAccessDenied",
                                                         "BadNotFound")
RETRYABLE_START_STATUSES: tuple[str, ...] = ("BadInvalidState", "BadResourceUnavailable")  # retry, same job id


class Decision(IntEnum):
    """What inspection decides for a cell."""

    ACCEPT = 0
    REWORK = 1
    REJECT = 2

    @property
    def wire_name(self) -> str:
        """The decision as the equipment receives it ("accept", "rework", "reject")."""
        return self.name.lower()

    @classmethod
    def from_wire(cls, name: str) -> "Decision":
        """The decision named on the wire; ValueError for anything else."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown decision {name!r} (one of {', '.join(DECISION_NAMES)})") from None


DECISION_NAMES: tuple[str, ...] = tuple(d.wire_name for d in Decision)
