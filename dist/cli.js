#!/usr/bin/env node
import { createRequire as __bgCreateRequire } from 'node:module'; import { fileURLToPath as __bgFileURLToPath } from 'node:url'; const require = __bgCreateRequire(import.meta.url); const __filename = __bgFileURLToPath(import.meta.url); const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));
import {
  ConfigurationError,
  DEFAULTS,
  DEFAULT_LIMITS,
  DEFAULT_POLICY_PATH,
  EXIT,
  InputError,
  Inputs,
  TOOL_NAME,
  TOOL_VERSION,
  __toESM,
  buildSettings,
  decide,
  describeError,
  exitCodeFor,
  imageSize,
  integer,
  loadLabelledImages,
  loadModel,
  mulberry32,
  oneOf,
  outcomeFor,
  parseBackendChoice,
  pickImages,
  planRows,
  readLocalModel,
  reconstructMasks,
  reconstructTriggers,
  require_tf_node,
  runGate,
  selectBackend,
  shuffleInPlace,
  withoutClass,
  writeGateJson,
  writeJsonReport,
  writeReportFiles
} from "./chunks/chunk-JWZOFLOE.js";

// src/cli.ts
import { parseArgs } from "node:util";

// src/clean/pipeline.ts
import path from "node:path";

// src/clean/d3.ts
var tf2 = __toESM(require_tf_node(), 1);

// src/clean/training.ts
var tf = __toESM(require_tf_node(), 1);
function forEachBatch(data, numClasses, opts, step) {
  const rand = mulberry32(opts.seed * 7919 + 13);
  const order = [...Array(data.count).keys()];
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    shuffleInPlace(order, rand);
    for (let s = 0; s < data.count; s += opts.batchSize) {
      const idx = order.slice(s, s + opts.batchSize);
      const batch = pickImages(data, idx);
      tf.tidy(() => {
        const x = tf.tensor4d(batch.x, [idx.length, data.height, data.width, data.channels]);
        const y = tf.cast(tf.oneHot(tf.tensor1d(batch.labels, "int32"), numClasses), "float32");
        step(x, y, epoch, idx);
      });
    }
  }
}
function crossEntropyPerSample(logits, oneHot2) {
  return tf.neg(tf.sum(tf.mul(oneHot2, tf.logSoftmax(logits)), -1));
}
function batched(set, out, width, f, batch = 250) {
  const n = imageSize(set);
  for (let s = 0; s < set.count; s += batch) {
    const e = Math.min(set.count, s + batch);
    out.set(tf.tidy(() => f(tf.tensor4d(set.x.subarray(s * n, e * n), [e - s, set.height, set.width, set.channels])).dataSync()), s * width);
  }
  return out;
}
function predict(model, set, transform) {
  return batched(set, new Int32Array(set.count), 1, (x) => tf.argMax(model.logits(transform ? transform(x) : x), -1));
}
function predictProbabilities(model, set) {
  return batched(set, new Float32Array(set.count * model.numClasses), model.numClasses, (x) => tf.softmax(model.logits(x)));
}
function accuracyOf(model, set) {
  const pred = predict(model, set);
  return pred.reduce((a, p, i) => a + (p === set.labels[i] ? 1 : 0), 0) / set.count;
}

// src/clean/d3.ts
var DEFAULT_D3 = { epochs: 100, batchSize: 256, learningRate: 0.01, momentum: 0.9, lambda: 0.5, epsilon: 0.1, warmStart: "random", selected: [], seed: 0 };
function headKernel(model) {
  const head = model.trainableVariables().filter((v) => v.rank === 2 && v.shape[1] === model.numClasses).at(-1);
  if (!head) throw new Error(`D3 found no dense head with ${model.numClasses} outputs to select; name the variables with the selected option`);
  return head;
}
function d3(model, clean2, options = {}) {
  const opts = { ...DEFAULT_D3, ...options };
  const t0 = performance.now();
  const vars = model.trainableVariables();
  const selected = opts.selected.length ? vars.filter((v) => opts.selected.includes(v.name)) : [headKernel(model)];
  if (opts.selected.length && selected.length !== opts.selected.length) throw new Error(`D3: selected variables not found: ${opts.selected.filter((n) => !vars.some((v) => v.name === n)).join(", ")}`);
  const initial = selected.map((v) => tf2.keep(v.clone()));
  const norms = initial.map((w) => tf2.keep(tf2.norm(w)));
  const rand = mulberry32(opts.seed + 101);
  selected.forEach((v, i) => {
    if (opts.warmStart === "near") return;
    tf2.tidy(() => {
      const start = opts.warmStart === "far" ? tf2.neg(initial[i]) : tf2.tensor(Float32Array.from({ length: v.size }, () => rand() - 0.5), v.shape);
      v.assign(tf2.mul(start, tf2.div(norms[i], tf2.norm(start))));
    });
  });
  const optimizer = tf2.train.momentum(opts.learningRate, opts.momentum);
  const epochLoss = new Array(opts.epochs).fill(0);
  const batches = new Array(opts.epochs).fill(0);
  let steps = 0;
  let lastEpoch = -1;
  forEachBatch(clean2, model.numClasses, opts, (x, y, epoch) => {
    if (epoch !== lastEpoch) {
      optimizer.setLearningRate(0.5 * opts.learningRate * (1 + Math.cos(Math.PI * epoch / opts.epochs)));
      lastEpoch = epoch;
    }
    const loss = optimizer.minimize(() => {
      const ce = crossEntropyPerSample(model.logits(x, { training: true }), y);
      const hinge = tf2.mean(tf2.relu(tf2.sub(ce, opts.epsilon)));
      const dist = tf2.addN(selected.map((v, i) => tf2.norm(tf2.sub(v, initial[i]))));
      const raw = tf2.sub(tf2.mul(hinge, opts.lambda), dist);
      return opts.lambda <= 1 ? raw : tf2.div(raw, opts.lambda + 1);
    }, true, vars);
    selected.forEach((v, i) => v.assign(tf2.mul(v, tf2.div(norms[i], tf2.norm(v)))));
    epochLoss[epoch] += loss.dataSync()[0];
    batches[epoch]++;
    steps++;
  });
  optimizer.dispose();
  tf2.dispose([...initial, ...norms]);
  return { method: "d3", options: { ...opts, selected: selected.map((v) => v.name) }, steps, epochLoss: epochLoss.map((l, i) => l / Math.max(1, batches[i])), seconds: (performance.now() - t0) / 1e3 };
}

// src/clean/triggers.ts
var tf3 = __toESM(require_tf_node(), 1);
function recoveredTriggers(shape, scans) {
  const [H, W, C] = shape;
  const n = H * W * C;
  const out = [];
  const { dense, mask } = scans;
  if (dense?.suspectedTarget != null) {
    const t = dense.suspectedTarget;
    const delta = dense.triggers.slice(t * n, (t + 1) * n);
    out.push({ target: t, source: "trigger-inversion", stamp: (x) => tf3.clipByValue(tf3.add(x, tf3.tensor4d(delta, [1, H, W, C])), 0, 1) });
  }
  if (mask?.suspectedTarget != null) {
    const t = mask.suspectedTarget;
    const m = mask.masks.slice(t * H * W, (t + 1) * H * W);
    const p = mask.patterns.slice(t * n, (t + 1) * n);
    out.push({
      target: t,
      source: "mask-inversion",
      stamp: (x) => {
        const mt = tf3.tensor4d(m, [1, H, W, 1]);
        return tf3.add(tf3.mul(tf3.sub(1, mt), x), tf3.mul(mt, tf3.tensor4d(p, [1, H, W, C])));
      }
    });
  }
  return out;
}

// src/clean/unlearn.ts
var tf4 = __toESM(require_tf_node(), 1);
var DEFAULT_UNLEARN = { epochs: 10, batchSize: 32, learningRate: 5e-4, triggeredFraction: 0.5, distill: true, seed: 0 };
function unlearnTriggers(model, clean2, triggers, options = {}) {
  const opts = { ...DEFAULT_UNLEARN, ...options };
  if (!triggers.length) throw new Error("trigger unlearning needs a recovered trigger: the scans found none to unlearn");
  const t0 = performance.now();
  const vars = model.trainableVariables();
  const optimizer = tf4.train.adam(opts.learningRate);
  const epochLoss = new Array(opts.epochs).fill(0);
  const batches = new Array(opts.epochs).fill(0);
  let steps = 0;
  const teacher = opts.distill ? predictProbabilities(model, clean2) : void 0;
  const K = model.numClasses;
  forEachBatch(clean2, K, opts, (x, y, epoch, indices) => {
    const k = Math.round(x.shape[0] * opts.triggeredFraction);
    const trigger = triggers[steps % triggers.length];
    const targets = teacher ? tf4.concat([tf4.slice(y, 0, k), tf4.tensor2d(indices.slice(k).flatMap((i) => Array.from(teacher.subarray(i * K, (i + 1) * K))), [indices.length - k, K])]) : y;
    const loss = optimizer.minimize(() => {
      const stamped = k > 0 ? tf4.concat([trigger.stamp(tf4.slice(x, 0, k)), tf4.slice(x, k)]) : x;
      return tf4.mean(crossEntropyPerSample(model.logits(stamped, { training: true }), targets));
    }, true, vars);
    epochLoss[epoch] += loss.dataSync()[0];
    batches[epoch]++;
    steps++;
  });
  optimizer.dispose();
  return { method: "unlearn", options: opts, steps, epochLoss: epochLoss.map((l, i) => l / Math.max(1, batches[i])), seconds: (performance.now() - t0) / 1e3 };
}

// src/clean/pipeline.ts
var CLEAN_METHODS = ["auto", "unlearn", "d3"];
var MIN_IMAGES_PER_CLASS = 10;
function splitHeldOut(set, heldOutFraction = 0.2) {
  const byClass = /* @__PURE__ */ new Map();
  for (let i = 0; i < set.count; i++) {
    const list = byClass.get(set.labels[i]);
    if (list) list.push(i);
    else byClass.set(set.labels[i], [i]);
  }
  const train3 = [];
  const held = [];
  for (const idx of byClass.values()) {
    const k = Math.max(1, Math.round(idx.length * heldOutFraction));
    held.push(...idx.slice(0, k));
    train3.push(...idx.slice(k));
  }
  return [pickImages(set, train3), pickImages(set, held)];
}
function scanForTriggers(model, probe, rows, seed) {
  const dense = reconstructTriggers(model, probe, { rows, seed });
  const mask = reconstructMasks(model, probe, { rows, seed });
  return { dense, mask, decision: decide({ dense, mask }) };
}
function measure(model, heldOut, trigger) {
  let asr = null;
  if (trigger) {
    const others = withoutClass(heldOut, trigger.target);
    asr = others.count ? predict(model, others, (x) => trigger.stamp(x)).filter((p) => p === trigger.target).length / others.count : null;
  }
  return { heldOutAccuracy: accuracyOf(model, heldOut), recoveredTriggerAsr: asr };
}
async function runClean(req, logger) {
  const { model, source, gate } = await loadModel(req.model);
  try {
    if (!model.canSave) throw new InputError(req.model, `is a ${model.format}: its weights are constants, so it cannot be cleaned (convert it to a tfjs layers model)`);
    const labelled = loadLabelledImages(req.data, { shape: model.inputShape, maxImages: 1e5, seed: req.seed });
    const counts = new Array(model.numClasses).fill(0);
    for (const l of labelled.labels) {
      if (l >= model.numClasses) throw new InputError(req.data, `holds label ${l}, but the model has ${model.numClasses} classes`);
      counts[l]++;
    }
    const thin = counts.map((c, k) => [k, c]).filter(([, c]) => c < MIN_IMAGES_PER_CLASS);
    if (thin.length) {
      throw new InputError(req.data, `has too few labelled clean images for cleaning: class ${thin.map(([k, c]) => `${k} has ${c}`).join(", ")}; give at least ${MIN_IMAGES_PER_CLASS} per class (60 per class is the tested amount)`);
    }
    const [cleanWith, heldOut] = splitHeldOut(labelled);
    const rows = await planRows(model);
    logger.info(`clean: scanning ${req.model} on ${labelled.count} labelled images`);
    const before = scanForTriggers(model, labelled, rows, req.seed);
    const target = before.decision.suspectedTarget;
    const triggers = target === null ? [] : recoveredTriggers(model.inputShape, before).filter((t) => t.target === target);
    const report = {
      schemaVersion: 1,
      tool: { name: TOOL_NAME, version: TOOL_VERSION },
      input: { spec: req.model, digest: source.digest },
      method: req.method,
      data: { source: labelled.source, cleanWith: cleanWith.count, heldOut: heldOut.count },
      before: measure(model, heldOut, triggers[0]),
      verdictBefore: before.decision.verdict
    };
    const method = req.method === "auto" ? triggers.length ? "unlearn" : null : req.method;
    if (!method) {
      report.skipped = `the scan found no backdoor (verdict ${before.decision.verdict}), so auto leaves the model as it is (name a method to force one)`;
      return report;
    }
    report.method = method;
    logger.info(`clean: ${method}`);
    report.log = method === "unlearn" ? unlearnTriggers(model, cleanWith, triggers, { seed: req.seed }) : d3(model, cleanWith, { seed: req.seed });
    report.after = measure(model, heldOut, triggers[0]);
    const after = scanForTriggers(model, labelled, rows, req.seed);
    report.verdictAfter = after.decision.verdict;
    report.reasonsAfter = after.decision.reasons;
    await model.save(req.out);
    if (gate.found) writeGateJson(req.out, gate.spec);
    const written = readLocalModel(path.join(req.out, "model.json"), DEFAULT_LIMITS);
    report.output = { dir: req.out, digest: written.digest };
    return report;
  } finally {
    model.dispose();
  }
}

// src/logger.ts
var ConsoleLogger = class {
  constructor(verbose = false) {
    this.verbose = verbose;
  }
  info(message) {
    process.stderr.write(`${message}
`);
  }
  notice(message) {
    process.stderr.write(`notice: ${message}
`);
  }
  warning(message) {
    process.stderr.write(`warning: ${message}
`);
  }
  error(message) {
    process.stderr.write(`error: ${message}
`);
  }
  debug(message) {
    if (this.verbose) process.stderr.write(`debug: ${message}
`);
  }
};

// src/cli.ts
var USAGE = `backdoor-gate ${TOOL_VERSION}: block backdoored neural-network checkpoints

usage: backdoor-gate scan <model> [options]
       backdoor-gate clean <model> --data <labelled clean data> --out <dir> [--method auto|unlearn|d3]

  <model>                   model directory, model.json path, or http(s) URL (tfjs layers or graph model)
  --data <spec>             probe images: a folder of PNG/JPEG, x.npy (+ y.npy), an ImageFolder,
                            mnist[:test|heldout|train|all], or synthetic (default: synthetic OOD images)
  --report <file>           JSON report path (default: ${DEFAULTS.reportPath})
  --artifacts <dir>         PNGs of reconstructed triggers, masks and the Hessian eigenvector
                            (default: beside the report, <report name>-artifacts/)
  --backend <name>          auto | tensorflow | wasm | cpu (default: auto)
  --seed <n>                seed for every random choice (default: ${DEFAULTS.seed})
  --max-probe-images <n>    probe images used (default: ${DEFAULTS.maxProbeImages})
  --scans <list>            detectors: ${DEFAULTS.scans} (default), or none
  --policy <file>           policy YAML (default: ${DEFAULT_POLICY_PATH} when it exists); flags override it
  --fail-on <verdict>       suspicious (default) | backdoored: the lowest verdict that fails
  --thresholds <list>       overrides, e.g. inversion.backdoored=5,mask-inversion.suspicious=1.2
  --verbose                 debug logging
  -h, --help, --version

clean (first cut): scans, removes the backdoor with the method, re-scans, and writes the cleaned
model to --out (never over an existing model). --data must be labelled: an ImageFolder
(<dir>/<class index>/*.png), an x.npy + y.npy pair or mnist:\u2026, at least ${MIN_IMAGES_PER_CLASS} images per class;
a fifth of each class is held out to measure accuracy before and after. auto unlearns the
recovered trigger, and leaves a model with no recovered trigger as it is. Report: --report
(default backdoor-gate-clean-report.json). Exit: 0 re-scan clean, 1 still flagged or skipped, 2 error.

exit codes: 0 pass (clean, or suspicious with --fail-on backdoored), 1 fail, 2 could not scan (bad input, error, or scans: none)`;
async function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      data: { type: "string" },
      report: { type: "string" },
      artifacts: { type: "string" },
      backend: { type: "string" },
      seed: { type: "string" },
      "max-probe-images": { type: "string" },
      scans: { type: "string" },
      policy: { type: "string" },
      "fail-on": { type: "string" },
      thresholds: { type: "string" },
      out: { type: "string" },
      method: { type: "string" },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      version: { type: "boolean", default: false }
    }
  });
  if (values.version) {
    process.stdout.write(`${TOOL_VERSION}
`);
    return EXIT.pass;
  }
  const [command, model, ...extra] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}
`);
    return values.help ? EXIT.pass : EXIT.couldNotScan;
  }
  if (command !== "scan" && command !== "clean") throw new ConfigurationError(`unknown command '${command}' (try: backdoor-gate scan <model>)`);
  if (extra.length) throw new ConfigurationError(`unexpected arguments: ${extra.join(" ")}`);
  const logger = new ConsoleLogger(values.verbose);
  if (command === "clean") return clean(model, values, logger);
  const flags = {
    [Inputs.Model]: model,
    [Inputs.Data]: values.data,
    [Inputs.ReportPath]: values.report,
    [Inputs.ArtifactsDir]: values.artifacts,
    [Inputs.Backend]: values.backend,
    [Inputs.Seed]: values.seed,
    [Inputs.MaxProbeImages]: values["max-probe-images"],
    [Inputs.Scans]: values.scans,
    [Inputs.Policy]: values.policy,
    [Inputs.FailOn]: values["fail-on"],
    [Inputs.Thresholds]: values.thresholds
  };
  const settings = buildSettings((name) => flags[name]);
  const engine = await selectBackend({ choice: settings.backend, logger });
  const { report, images } = await runGate(settings, engine, logger);
  const written = writeReportFiles(report, images, settings.reportPath, settings.artifactsDir);
  if (report.artifacts && "error" in report.artifacts) logger.warning(`scan images not written: ${report.artifacts.error}`);
  const score = report.score === null ? "" : ` score ${report.score.toFixed(3)}`;
  const target = report.suspectedTarget == null ? "" : ` target ${report.suspectedTarget}`;
  process.stdout.write(`${settings.model}: ${report.verdict}${score}${target}${report.error ? ` (${report.error})` : ""} \u2192 ${written}
`);
  if (outcomeFor(report.verdict, settings.failOn) === "warn") logger.warning(`${report.verdict}, but the policy fails only on backdoored: ${report.reasons.join("; ")}`);
  return exitCodeFor(report.verdict, settings.failOn);
}
async function clean(model, values, logger) {
  const str = (k) => typeof values[k] === "string" ? values[k].trim() || void 0 : void 0;
  if (!model) throw new ConfigurationError("model is required: backdoor-gate clean <model> --data <labelled clean data> --out <dir>");
  const data = str("data");
  const out = str("out");
  if (!data) throw new ConfigurationError("clean needs --data: a small labelled clean set (ImageFolder <dir>/<class>/*.png, x.npy + y.npy, or mnist:\u2026), 60 images per class is the tested amount");
  if (!out) throw new ConfigurationError("clean needs --out: a new directory for the cleaned model (the input is never replaced)");
  const method = oneOf(str("method"), "method", CLEAN_METHODS, "auto");
  const seed = integer(str("seed"), "seed", DEFAULTS.seed, 0, 2 ** 31 - 1);
  await selectBackend({ choice: parseBackendChoice(str("backend") ?? "auto", "backend"), logger });
  const reportPath = str("report") ?? "backdoor-gate-clean-report.json";
  let report;
  try {
    report = await runClean({ model, data, out, method, seed }, logger);
  } catch (err) {
    const failed = { schemaVersion: 1, tool: { name: TOOL_NAME, version: TOOL_VERSION }, input: { spec: model }, error: describeError(err) };
    const written2 = writeJsonReport(reportPath, failed);
    process.stdout.write(`${model}: error (${describeError(err)}) \u2192 ${written2}
`);
    return EXIT.couldNotScan;
  }
  const written = writeJsonReport(reportPath, report);
  const pct = (v) => v == null ? "n/a" : `${(100 * v).toFixed(1)} %`;
  if (report.skipped) {
    process.stdout.write(`${model}: not cleaned (${report.skipped}) \u2192 ${written}
`);
    return EXIT.fail;
  }
  process.stdout.write(
    `${model}: ${report.method}: held-out accuracy ${pct(report.before.heldOutAccuracy)} \u2192 ${pct(report.after?.heldOutAccuracy)}, recovered-trigger ASR ${pct(report.before.recoveredTriggerAsr)} \u2192 ${pct(report.after?.recoveredTriggerAsr)}, re-scan ${report.verdictBefore} \u2192 ${report.verdictAfter}; cleaned model ${report.output?.dir} (${report.output?.digest}) \u2192 ${written}
`
  );
  return report.verdictAfter === "clean" ? EXIT.pass : EXIT.fail;
}
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`backdoor-gate: ${describeError(err)}
`);
    process.exit(EXIT.couldNotScan);
  }
);
export {
  main
};
