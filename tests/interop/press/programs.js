// The ProgramManager of one functional unit: program templates, StartProgram (idempotent per
// SupervisoryJobId), the running cycle (physics ticks in wall time = device time / time_scale),
// Stop / Abort, and the Result that appears in the ResultSet only once the run is complete.
"use strict";
const { DataType, StatusCodes, Variant, VariantArrayType } = require("node-opcua");
const C = require("./contract");
const security = require("./security");
const { PressPhysics, phases, cv } = require("./physics");
const results = require("./results");

const TICK_WALL_MS = 20;

class Programs {
  constructor(as, ctx) {
    this.as = as;
    this.ctx = ctx;
    this.lads = as.getNamespaceIndex(C.NS.LADS);
    this.plant = as.getNamespaceIndex(C.NS.PLANT);
    this.physics = new PressPhysics({ seed: ctx.cfg.seed });
    this.byJob = new Map(); // SupervisoryJobId -> run id
    this.runs = 0;
    this.active = null;
    this.timer = null;
    this.pm = ctx.fu.getChildByName("ProgramManager", this.lads);
    this.templates = this.pm.getChildByName("ProgramTemplateSet", this.lads);
    this.resultSet = this.pm.getChildByName("ResultSet", this.lads);
    this.activeProgram = this.pm.getChildByName("ActiveProgram", this.lads);
    results.addTemplates(as, this.templates, ctx.spec, this.plant);
    this.bindMethods();
  }

  bindMethods() {
    const sm = this.ctx.fu.getChildByName("FunctionalUnitState", this.lads);
    const start = sm.getChildByName("StartProgram", this.lads);
    if (start) start.bindMethod((args, context, cb) => cb(null, this.onStart(args, context)));
    for (const [name, fn] of [["Stop", () => this.finish("Stopped")], ["Abort", () => this.finish("Aborted")]]) {
      const m = sm.getChildByName(name, this.lads);
      if (!m) continue;
      m.bindMethod((args, context, cb) => {
        if (!security.isOperator(context)) return cb(null, { statusCode: StatusCodes.BadUserAccessDenied });
        if (!this.active) return cb(null, { statusCode: StatusCodes.BadInvalidState });
        fn();
        return cb(null, { statusCode: StatusCodes.Good });
      });
    }
  }

  onStart(args, context) {
    if (!security.isOperator(context)) return { statusCode: StatusCodes.BadUserAccessDenied };
    const [templateId, properties, jobId, taskId, samples] = args.map((a) => a.value);
    if (jobId && this.byJob.has(jobId)) return ok(this.byJob.get(jobId));
    const tmpl = results.template(this.ctx.spec, templateId);
    if (!tmpl) return { statusCode: StatusCodes.BadInvalidArgument };
    let recipe;
    try {
      recipe = results.recipeFrom(tmpl, properties || [], this.ctx.spec);
    } catch (e) {
      return { statusCode: StatusCodes.BadInvalidArgument };
    }
    const cells = (samples || []).map((s) => s.sampleId);
    if (cells.length > (this.ctx.spec.capacity_cells || 8)) return { statusCode: StatusCodes.BadInvalidArgument };
    if (this.active) return { statusCode: StatusCodes.BadInvalidState };
    this.runs += 1;
    const runId = `${this.ctx.spec.name}-${process.pid}-${this.runs}`;
    if (jobId) this.byJob.set(jobId, runId);
    this.begin({ runId, templateId, properties: properties || [], jobId: jobId || "", taskId: taskId || "",
      samples: samples || [], recipe, user: context.session && context.session.userIdentityToken
        ? String(context.session.userIdentityToken.userName || "") : "" });
    return ok(runId);
  }

  begin(run) {
    const scale = this.ctx.cfg.time_scale;
    run.started = new Date();
    run.phases = phases(run.recipe);
    run.trace = [];
    run.t0 = Date.now();
    this.active = run;
    this.ctx.temperature.target.setValueFromSource({ dataType: DataType.Double, value: run.recipe.temperature_c });
    this.ctx.pressure.target.setValueFromSource({ dataType: DataType.Double, value: run.recipe.target_pressure_mpa });
    results.setActive(this.activeProgram, this.lads, run);
    this.ctx.sm.setState("Running");
    if (this.ctx.cfg.broken.has("early_result")) results.addResult(this.as, this.resultSet, this.plant, run, null);
    this.timer = setInterval(() => this.tick(scale), TICK_WALL_MS);
  }

  tick(scale) {
    const run = this.active;
    if (!run) return;
    const t = ((Date.now() - run.t0) / 1000) * scale;
    const s = this.physics.sample(run.recipe, Math.min(t, run.phases.total));
    run.trace.push({ t_s: t, ...s });
    this.ctx.pressure.current.setValueFromSource({ dataType: DataType.Double, value: s.pressure_mpa });
    this.ctx.temperature.current.setValueFromSource({ dataType: DataType.Double, value: s.temperature_c });
    if (t >= run.phases.total) this.finish("Completed");
  }

  /** End the active run: the Result (with measured values) then the state machine. */
  finish(outcome) {
    const run = this.active;
    if (!run) return;
    clearInterval(this.timer);
    this.timer = null;
    run.stopped = new Date();
    run.outcome = outcome;
    const hold = run.trace.filter((s) => s.phase === "hold");
    const holdMean = hold.length ? hold.reduce((a, s) => a + s.pressure_mpa, 0) / hold.length : 0;
    const perCell = this.physics.perPosition(holdMean, run.samples.length);
    run.measured = {
      peak_pressure_mpa: Math.max(0, ...run.trace.map((s) => s.pressure_mpa)),
      hold_pressure_mpa: holdMean,
      cell_pressures_mpa: perCell,
      pressure_cv: cv(perCell),
      hold_s: (hold.length ? hold[hold.length - 1].t_s - hold[0].t_s : 0),
      mean_temperature_c: hold.length ? hold.reduce((a, s) => a + s.temperature_c, 0) / hold.length : 0,
    };
    this.ctx.pressure.current.setValueFromSource({ dataType: DataType.Double, value: 0 });
    results.addResult(this.as, this.resultSet, this.plant, run, run.measured);
    this.active = null;
    results.setActive(this.activeProgram, this.lads, null);
    this.ctx.sm.setState(outcome === "Aborted" ? "Aborted" : "Stopped");
  }

  dispose() {
    if (this.timer) clearInterval(this.timer);
  }
}

function ok(runId) {
  return { statusCode: StatusCodes.Good, outputArguments: [new Variant({ dataType: DataType.String, value: runId })] };
}

module.exports = { Programs };
void VariantArrayType;
