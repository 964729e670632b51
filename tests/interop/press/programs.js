// The program side of the PressChamber (docs/opcua.md sections 5 and 10): StartProgram with the
// argument checks of P2 in their order, idempotence per SupervisoryJobId (P1), Stop / Abort /
// Clear (5.2), the running cycle (wall time = process time / TimeScale), faults (X4) and
// SetDisposition (X1). Results are built by ./results.
"use strict";
const { DataType, StatusCodes, Variant } = require("node-opcua");
const C = require("./contract");
const security = require("./security");
const { Cycle, nominalDuration } = require("./physics");
const results = require("./results");

const TICK_WALL_MS = 20; // publishing period of readings (wall)
const CLEARING_MS = 200; // Clear: Clearing for at most 1 s
const BOOT = Date.now().toString(36);

/** P2: the argument values of a well-formed call, or {statusCode, inputArgumentResults}. */
function checkTypes(args) {
  const results = args.map(() => StatusCodes.Good);
  const arrays = [1, 4];
  const typeName = { 1: "KeyValueType", 4: "SampleInfoType" };
  args.forEach((a, i) => {
    if (arrays.includes(i)) {
      if (a.dataType === DataType.Null) return; // an empty array MAY be a Null variant
      const ok = a.arrayType !== 0 && a.dataType === DataType.ExtensionObject
        && (a.value || []).every((x) => x && x.schema && x.schema.name === typeName[i]);
      if (!ok) results[i] = StatusCodes.BadTypeMismatch;
    } else if (a.dataType !== DataType.String || a.arrayType !== 0) {
      results[i] = StatusCodes.BadTypeMismatch;
    }
  });
  if (results.some((s) => s !== StatusCodes.Good)) {
    return { error: { statusCode: StatusCodes.BadInvalidArgument, inputArgumentResults: results } };
  }
  const v = args.map((a) => (a.dataType === DataType.Null ? null : a.value));
  return { templateId: v[0], properties: v[1] || [], jobId: v[2] || "", taskId: v[3] || "", samples: v[4] || [] };
}

class Programs {
  constructor(ctx) {
    this.ctx = ctx;
    this.as = ctx.as;
    this.lads = ctx.as.getNamespaceIndex(C.NS.LADS);
    this.plant = ctx.as.getNamespaceIndex(C.NS.PLANT);
    this.byJob = new Map(); // SupervisoryJobId -> RunId (P1)
    this.runs = new Map(); // RunId -> run (kept with its Result, R5)
    this.count = 0;
    this.active = null;
    this.armed = []; // X4 kinds armed for the next run
    this.suffered = []; // kinds the last run suffered, until Clear
    this.timer = null;
    this.offlineUntil = 0;
    const pm = ctx.fu.getChildByName("ProgramManager", this.lads);
    this.resultSet = pm.getChildByName("ResultSet", this.lads);
    this.activeProgram = pm.getChildByName("ActiveProgram", this.lads);
    this.templates = results.addTemplates(ctx.as, pm.getChildByName("ProgramTemplateSet", this.lads), ctx.spec);
    results.initActive(this.activeProgram, this.lads);
    results.addSetDisposition(ctx.as, pm, (args, context) => this.setDisposition(args, context));
    ctx.programTarget = (fn) => (this.active ? (fn === "Pressure" ? this.active.recipe.target_pressure_mpa
      : this.active.recipe.temperature_c) : null);
    this.bind();
    if (ctx.spec.latched_fault_s > 0) this.latch(ctx.spec.latched_fault_s);
  }

  /** Boot with a latched fault (the unit Aborted, as a fault before the twin connected left it),
   * cleared at the panel `seconds` (wall) after the first start it refused (5.2: a device MAY be
   * cleared at its panel). */
  latch(seconds) {
    this.suffered = ["overpressure"];
    this.setState(C.STATES.ABORTED);
    this.publishFaults();
    this.panelClear = () => {
      this.panelClear = null;
      this.panelTimer = setTimeout(() => this.clear(), seconds * 1000);
    };
  }

  bind() {
    const sm = this.ctx.fu.getChildByName("FunctionalUnitState", this.lads);
    const start = sm.getChildByName("StartProgram", this.lads);
    if (start) start.bindMethod((args, context, cb) => cb(null, this.start(args, context)));
    const simple = { Stop: () => this.stop(false), Abort: () => this.stop(true), Clear: () => this.clear() };
    for (const [name, fn] of Object.entries(simple)) {
      sm.getChildByName(name, this.lads).bindMethod((args, context, cb) => {
        if (!security.isOperator(context)) return cb(null, { statusCode: StatusCodes.BadUserAccessDenied });
        return cb(null, { statusCode: fn() });
      });
    }
  }

  state() {
    return String(this.ctx.sm.getCurrentState()).split(":").pop();
  }

  setState(name) {
    this.ctx.sm.setState(name);
    const item = this.ctx.itemState;
    if (!item) return;
    if (Date.now() < this.offlineUntil) item.setState(C.ITEM.NOT_AVAILABLE);
    else if ([C.STATES.RUNNING, C.STATES.STOPPING, C.STATES.ABORTING].includes(name)) item.setState(C.ITEM.EXECUTING);
    else if ([C.STATES.ABORTED, C.STATES.CLEARING].includes(name)) item.setState(C.ITEM.OUT_OF_SERVICE);
    else item.setState(C.ITEM.NOT_EXECUTING);
  }

  publishFaults() {
    const kinds = [...new Set([...this.armed, ...this.suffered])];
    this.ctx.faultsActive.setValueFromSource({ dataType: DataType.String, arrayType: 1, value: kinds });
  }

  start(args, context) {
    // 5.1 order: role, count (the stack checks it before any handler runs: J19), types, P1, contents, state
    if (!security.isOperator(context)) return { statusCode: StatusCodes.BadUserAccessDenied };
    const parsed = checkTypes(args);
    if (parsed.error) return parsed.error;
    if (parsed.jobId && this.byJob.has(parsed.jobId)) return ok(this.byJob.get(parsed.jobId)); // P1
    if (!parsed.jobId) return { statusCode: StatusCodes.BadInvalidArgument };
    const tmpl = this.templates.get(parsed.templateId);
    if (!tmpl) return { statusCode: StatusCodes.BadInvalidArgument };
    const recipe = results.recipe(tmpl, parsed.properties, this.ctx.spec);
    if (recipe.statusCode) return { statusCode: recipe.statusCode };
    const ids = parsed.samples.map((s) => s.sampleId);
    if (new Set(ids).size !== ids.length) return { statusCode: StatusCodes.BadInvalidArgument };
    if (ids.length > this.ctx.spec.capacity_cells) return { statusCode: StatusCodes.BadOutOfRange };
    if (this.state() !== C.STATES.STOPPED || Date.now() < this.offlineUntil) {
      if (this.panelClear) this.panelClear();
      return { statusCode: StatusCodes.BadInvalidState };
    }
    this.count += 1;
    const runId = `${this.ctx.spec.name}/${BOOT} run ${this.count}`; // P6 opaque; N3: "/" and spaces on purpose
    this.byJob.set(parsed.jobId, runId);
    const user = context.session && context.session.userIdentityToken
      ? String(context.session.userIdentityToken.userName || "") : "";
    this.begin({ runId, n: this.count, template: tmpl, recipe: recipe.values, applied: recipe.applied, jobId: parsed.jobId,
      taskId: parsed.taskId, samples: parsed.samples, user });
    return ok(runId);
  }

  begin(run) {
    const scale = this.ctx.cfg.time_scale;
    const fault = this.armed.shift() || null;
    run.fault = fault;
    run.cycle = new Cycle(run.recipe, { seed: this.ctx.cfg.seed * 1000 + this.count, fault: fault === "comm_loss" ? null : fault });
    run.estimatedMs = (nominalDuration(run.recipe, 22) / scale) * 1000;
    run.started = new Date();
    run.t0 = Date.now();
    run.outcome = null;
    this.active = run;
    this.runs.set(run.runId, run);
    if (fault === "comm_loss") this.offlineUntil = Date.now() + this.ctx.cfg.comm_loss_offline_s * 1000;
    results.setActive(this.activeProgram, this.lads, run, run.template.node);
    this.setState(C.STATES.RUNNING); // P5: Running before StartProgram returns
    if (this.ctx.broken.has("early_result")) results.addResult(this.as, this.resultSet, run, this.ctx, true);
    this.publishFaults();
    this.timer = setInterval(() => this.tick(), TICK_WALL_MS);
  }

  tick() {
    const run = this.active;
    const now = Date.now();
    const offline = now < this.offlineUntil;
    const tProcess = ((now - run.t0) / 1000) * this.ctx.cfg.time_scale;
    while (!run.cycle.done && run.cycle.t <= tProcess) run.cycle.step();
    if (run.fault === "comm_loss") {
      if (offline) return; // NotAvailable: publishes nothing
      run.cycle.faults.push("comm_loss");
      run.cycle.interrupt(true);
      while (!run.cycle.done) run.cycle.step();
    }
    const tr = run.cycle.trace;
    const last = tr.t_s.length - 1;
    if (last >= 0) {
      this.ctx.pressure.current.setValueFromSource({ dataType: DataType.Double, value: tr.p_mpa[last] });
      this.ctx.temperature.current.setValueFromSource({ dataType: DataType.Double, value: tr.temp_c[last] });
      results.setProgress(this.activeProgram, this.lads, now - run.t0, tr.phase[last]);
    }
    if (run.cycle.faults.length && this.state() === C.STATES.RUNNING) this.setState(C.STATES.ABORTING);
    if (run.cycle.done) this.finish();
  }

  /** R1: the Result appears complete, then the state machine leaves Running / enters Stopped or Aborted. */
  finish() {
    const run = this.active;
    clearInterval(this.timer);
    this.timer = null;
    const measured = run.cycle.measure(run.samples.length); // may add "leak"
    run.faults = [...run.cycle.faults];
    if (run.faults.length) run.outcome = C.OUTCOMES.FAULT;
    else run.outcome = run.outcome || C.OUTCOMES.COMPLETED;
    run.stopped = new Date();
    run.measured = measured;
    results.addResult(this.as, this.resultSet, run, this.ctx, false);
    results.prune(this.resultSet, this.runs, this.byJob);
    this.suffered = run.faults;
    this.active = null;
    this.ctx.pressure.current.setValueFromSource({ dataType: DataType.Double, value: run.cycle.trace.p_mpa.at(-1) || 0 });
    const end = [C.OUTCOMES.FAULT, C.OUTCOMES.ABORTED].includes(run.outcome) ? C.STATES.ABORTED : C.STATES.STOPPED;
    if (end === C.STATES.ABORTED && this.state() === C.STATES.RUNNING) this.setState(C.STATES.ABORTING);
    this.setState(end);
    this.publishFaults();
  }

  stop(abort) {
    const st = this.state();
    const run = this.active;
    if (!run || !(st === C.STATES.RUNNING || (abort && st === C.STATES.STOPPING))) return StatusCodes.BadInvalidState;
    run.outcome = abort ? C.OUTCOMES.ABORTED : C.OUTCOMES.STOPPED;
    run.cycle.interrupt(abort);
    this.setState(abort ? C.STATES.ABORTING : C.STATES.STOPPING);
    return StatusCodes.Good;
  }

  clear() {
    if (this.state() !== C.STATES.ABORTED) return StatusCodes.BadInvalidState;
    this.setState(C.STATES.CLEARING);
    this.suffered = [];
    this.publishFaults();
    setTimeout(() => this.setState(C.STATES.STOPPED), CLEARING_MS);
    return StatusCodes.Good;
  }

  inject(kind, context) {
    if (!security.isOperator(context)) return StatusCodes.BadUserAccessDenied;
    if (!C.FAULT_KINDS.includes(kind)) return StatusCodes.BadInvalidArgument;
    this.armed.push(kind);
    this.publishFaults();
    return StatusCodes.Good;
  }

  setDisposition(args, context) {
    if (!security.isOperator(context)) return StatusCodes.BadUserAccessDenied;
    const [runId, sampleId, decision, reason] = args.map((a) => a.value);
    const run = this.runs.get(runId);
    if (!run || !run.resultNode) return StatusCodes.BadNotFound;
    if (!run.samples.some((s) => s.sampleId === sampleId)) return StatusCodes.BadInvalidArgument;
    if (!["accept", "rework", "reject"].includes(decision)) return StatusCodes.BadInvalidArgument;
    run.dispositions[sampleId] = { decision, reason: reason || "" };
    results.setDispositions(run);
    return StatusCodes.Good;
  }

  dispose() {
    if (this.timer) clearInterval(this.timer);
    if (this.panelTimer) clearTimeout(this.panelTimer);
  }
}

function ok(runId) {
  return { statusCode: StatusCodes.Good, outputArguments: [new Variant({ dataType: DataType.String, value: runId })] };
}

module.exports = { Programs, checkTypes };
