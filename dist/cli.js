#!/usr/bin/env node
import { createRequire as __bgCreateRequire } from 'node:module'; import { fileURLToPath as __bgFileURLToPath } from 'node:url'; const require = __bgCreateRequire(import.meta.url); const __filename = __bgFileURLToPath(import.meta.url); const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));
import {
  AUTO_METHOD,
  CLEAN_METHODS,
  ConfigurationError,
  ConsoleLogger,
  DEFAULTS,
  DEFAULT_MAX_ACCURACY_DROP,
  DEFAULT_POLICY_PATH,
  EXIT,
  Inputs,
  JUDGE_PROBES,
  MEASURED_PROBE_IMAGES,
  MIN_HELD_OUT_PER_CLASS,
  MIN_IMAGES_PER_CLASS,
  TOOL_NAME,
  TOOL_VERSION,
  buildSettings,
  cleanSummary,
  cleanedModelFailure,
  cleanedModelPasses,
  describeError,
  exitCodeFor,
  exitOnEscapedError,
  failIfEndedEarly,
  fewestProbeImages,
  onErrorFor,
  oneOf,
  openGitHub,
  outcomeFor,
  runClean,
  runMergeSession,
  runWholeScanSession,
  selectBackendFor,
  shardFlags,
  writeJsonReport
} from "./chunks/chunk-RHHQSNEY.js";
import "./chunks/chunk-IJER4GQI.js";

// src/cli.ts
import { parseArgs } from "node:util";
var SCAN_USAGE = `usage: backdoor-gate scan <model> [options]

Scans a model for backdoors and decides clean | suspicious | backdoored | unassessed.

  <model>                   model directory, model.json or .onnx path, bundle (.tar.gz/.tgz/.zip/.tar), http(s)
                            URL of a model.json, .onnx or bundle, release:<tag>/<asset> or artifact:<name>[@<run id>]
                            (these two read GITHUB_TOKEN and GITHUB_REPOSITORY)
  --data <spec>             probe images: a folder of PNG/JPEG, x.npy (+ y.npy), an ImageFolder,
                            mnist[:test|heldout|train|all], synthetic (noise probes), or deep-inversion
                            (probes synthesised from the model; a quiet scan on them is unassessed). Default:
                            none, and the data-free max-margin scan runs, whose verdict can be flagged or
                            unassessed
  --report <file>           JSON report path (default: ${DEFAULTS.reportPath})
  --json                    print the JSON report on stdout instead of the one-line verdict
  --sarif <file>            also write SARIF 2.1.0 (for code scanning) to <file>
  --sarif-category <id>     SARIF automationDetails.id (default: backdoor-gate/<model name>)
  --artifacts <dir>         PNGs of reconstructed triggers, masks and the Hessian eigenvector
                            (default: beside the report, <report name>-artifacts/)
  --backend <name>          auto | tensorflow | webgpu | wasm | cpu (default: auto; webgpu needs the
                            webgpu package, Dawn for Node, installed beside backdoor-gate)
  --seed <n>                seed for every random choice (default: ${DEFAULTS.seed})
  --max-probe-images <n>    probe images used (default: ${DEFAULTS.maxProbeImages}); on fewer than ${fewestProbeImages("multiClass")} a quiet scan
                            is unassessed (the benchmark measured the scans' power on ${MEASURED_PROBE_IMAGES} and
                            on fewer: below ${fewestProbeImages("multiClass")} it fell)
  --scans <list>            detectors: inversion, mask-inversion, hessian, max-margin, or none (default:
                            ${DEFAULTS.scans} with --data, ${DEFAULTS.dataFreeScans} without)
  --policy <file>           policy YAML (default: ${DEFAULT_POLICY_PATH} when it exists); flags override it
  --fail-on <verdict>       suspicious (default) | backdoored: the lowest verdict that fails
  --thresholds <list>       overrides, e.g. inversion.backdoored=5,residual.mask-inversion.suspicious=2
                            (prefixes binary., residual., depthwise., dual.: those heads', networks' and
                            dual encoders' own; levels may be negative)
  --jobs <n|auto>           processes to split the scan over, merged into one report as merge does (default:
                            auto, the machine's cores with the wasm or cpu backend, one thread a process with
                            --threads auto; 1 with tensorflow, which uses every core itself); never more than the
                            classes that get work
  --threads <n|auto>        threads each process computes on with the wasm backend (default: auto, the machine's
                            cores shared among the --jobs processes, at most 8)
  --shard <i/n>             scan only shard i of n of the per-class work and write a partial report, which
                            decides nothing: backdoor-gate merge combines the n shards' reports into the verdict
  --verbose                 debug logging
  -h, --help

exit codes: 0 pass (clean, or suspicious with --fail-on backdoored; a shard that scanned), 1 fail (backdoored,
suspicious), 2 could not scan or assess (bad input, error, unassessed, or --scans none)`;
var MERGE_USAGE = `usage: backdoor-gate merge <partial reports or folders\u2026> [options]

Combines the partial reports of a sharded scan (scan --shard 1/n \u2026 n/n, same model, data, seed and policy)
into the report, verdict and exit code the whole scan gives. Folders are searched for partial reports (as
actions/download-artifact leaves them); each shard's images are taken from beside its report.
The verdict is computed here, under this policy's thresholds, prior and fail-on.

  --report <file>           JSON report path (default: ${DEFAULTS.reportPath})
  --json                    print the JSON report on stdout instead of the one-line verdict
  --sarif <file>            also write SARIF 2.1.0 to <file>
  --sarif-category <id>     SARIF automationDetails.id (default: backdoor-gate/<model name>)
  --artifacts <dir>         where the shards' images go (default: beside the report)
  --policy <file>           policy YAML (default: ${DEFAULT_POLICY_PATH} when it exists); flags override it
  --fail-on <verdict>       suspicious (default) | backdoored
  --thresholds <list>       overrides, e.g. inversion.backdoored=5
  --verbose                 debug logging
  -h, --help

exit codes: as scan's; 2 also when the shards do not add up (one missing, failed or given twice, or
shards of different scans)`;
var CLEAN_USAGE = `usage: backdoor-gate clean <model> --data <labelled clean data> --out <dir> [options]

Scans, removes the backdoor with the method, re-scans, and writes the cleaned model to --out
(never over an existing model; the input is never touched).

  --data <spec>             labelled clean images: an ImageFolder (<dir>/<class index>/*.png), an x.npy + y.npy
                            pair or mnist:\u2026, at least ${MIN_IMAGES_PER_CLASS} images per class (60 is the tested amount); a fifth
                            of each class is held out to measure accuracy before and after and to re-scan the
                            cleaned model on (a quiet re-scan of fewer than ${MIN_HELD_OUT_PER_CLASS} per class is unassessed,
                            unless --unlabelled gives ${2 * JUDGE_PROBES} images or more)
  --unlabelled <spec>       unlabelled in-distribution images (as scan's --data; not synthetic): labelled by the
                            model's own answers and cleaned with too, which keeps accuracy when --data is small;
                            of ${2 * JUDGE_PROBES} or more, the last ${JUDGE_PROBES} are kept apart for the re-scan instead
  --out <dir>               a new directory for the cleaned model
  --method <name>           ${CLEAN_METHODS.join(" | ")} (default: auto)
                            auto: warp check, then ${AUTO_METHOD} (unlearn on ONNX models) on the recovered trigger;
                            a flagged (or forced) model with no recovered trigger that works is cleaned by sau
                            (shared adversarial unlearning, needs no trigger); an unflagged one is left as it is;
                            on a dual encoder: trigger unlearning (then par when both towers train);
                            onp and par need a tfjs layers model
  --target <class>|none     the class a scan with probe data flagged (scan's suspected target): when the scan of
                            --data names none, auto cleans at it, as the action does with its own scan's finding;
                            none: the scan flagged the model without naming a class (the untargeted mask), and auto
                            cleans it without a trigger (sau) even when the scan of --data is quiet
  --force                   clean a model the scan passed (you know it was poisoned): the trigger methods take the
                            class the scans rank most suspicious as the target, one round; auto uses sau when that
                            class's recovered trigger does not work
  --report <file>           cleaning report (default: backdoor-gate-clean-report.json)
  --json                    print the cleaning report on stdout instead of the one-line summary
  --policy <file>           policy YAML (default: ${DEFAULT_POLICY_PATH} when it exists): its thresholds, prior,
                            budgets, limits and seed judge the model before and after cleaning, as scan does
  --thresholds <list>       overrides, e.g. inversion.backdoored=5,mask-inversion.suspicious=1.2
  --max-accuracy-drop <pts> points of held-out accuracy the cleaned model may lose and still pass (default: the
                            policy's cleaning.max-accuracy-drop, else ${DEFAULT_MAX_ACCURACY_DROP})
  --backend <name>          auto | tensorflow | wasm | cpu (default: auto; cleaning does not run on webgpu)
  --threads <n|auto>        threads to compute on with the wasm backend (default: auto, the machine's cores, at
                            most 8)
  --seed <n>                seed (default: the policy's, else ${DEFAULTS.seed})
  --verbose                 debug logging
  -h, --help

A cleaned model is written in the input's format (model.json + shard, or model.onnx).
exit codes: 0 the cleaned model passes (re-scan clean, accuracy cost within the policy), 1 it does not or
nothing was cleaned, 2 error`;
var USAGE = `backdoor-gate ${TOOL_VERSION}: block backdoored neural-network checkpoints

usage: backdoor-gate scan <model> [options]     scan a model (backdoor-gate scan --help)
       backdoor-gate merge <partial reports\u2026>   merge a sharded scan (backdoor-gate merge --help)
       backdoor-gate clean <model> [options]    clean a flagged model (backdoor-gate clean --help)
       backdoor-gate --version`;
var COMMON = {
  report: { type: "string" },
  json: { type: "boolean", default: false },
  backend: { type: "string" },
  seed: { type: "string" },
  verbose: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false }
};
var POLICY_FLAGS = { policy: { type: "string" }, thresholds: { type: "string" } };
var COMMANDS = {
  scan: {
    usage: SCAN_USAGE,
    options: {
      ...COMMON,
      data: { type: "string" },
      artifacts: { type: "string" },
      sarif: { type: "string" },
      "sarif-category": { type: "string" },
      "max-probe-images": { type: "string" },
      scans: { type: "string" },
      "fail-on": { type: "string" },
      shard: { type: "string" },
      jobs: { type: "string" },
      threads: { type: "string" },
      ...POLICY_FLAGS
    }
  },
  merge: {
    usage: MERGE_USAGE,
    options: {
      report: COMMON.report,
      json: COMMON.json,
      verbose: COMMON.verbose,
      help: COMMON.help,
      artifacts: { type: "string" },
      sarif: { type: "string" },
      "sarif-category": { type: "string" },
      "fail-on": { type: "string" },
      ...POLICY_FLAGS
    }
  },
  clean: {
    usage: CLEAN_USAGE,
    options: {
      ...COMMON,
      data: { type: "string" },
      unlabelled: { type: "string" },
      target: { type: "string" },
      out: { type: "string" },
      method: { type: "string" },
      force: { type: "boolean", default: false },
      "max-accuracy-drop": { type: "string" },
      threads: { type: "string" },
      ...POLICY_FLAGS
    }
  }
};
var UsageError = class extends Error {
};
async function main(argv) {
  const [first] = argv;
  if (first === "--version") {
    process.stdout.write(`${TOOL_VERSION}
`);
    return EXIT.pass;
  }
  if (first === "--help" || first === "-h") {
    process.stdout.write(`${USAGE}
`);
    return EXIT.pass;
  }
  if (!first) throw new UsageError("missing command: scan, merge or clean");
  if (!(first in COMMANDS))
    throw new UsageError(
      first.startsWith("-") ? `'${first}' before the command: give scan, merge or clean first` : `unknown command '${first}' (commands: scan, merge, clean)`
    );
  const command = first;
  let parsed;
  try {
    parsed = parseArgs({ args: argv.slice(1), allowPositionals: true, strict: true, options: COMMANDS[command].options });
  } catch (err) {
    const message = (err.message.split("\n")[0] ?? "").replace(/\. To specify a positional argument.*$/, "").replace(/\.$/, "");
    throw new UsageError(`${command}: ${message.charAt(0).toLowerCase()}${message.slice(1)}`, { cause: command });
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${COMMANDS[command].usage}
`);
    return EXIT.pass;
  }
  if (command === "merge") return merge(positionals, values);
  const [model, ...extra] = positionals;
  if (!model) throw new UsageError(`${command}: missing <model>`, { cause: command });
  if (extra.length) throw new UsageError(`${command}: unexpected arguments: ${extra.join(" ")}`, { cause: command });
  const logger = new ConsoleLogger(values.verbose);
  if (command === "clean") return clean(model, values, logger);
  const scanFlags = values;
  const inputs = {
    [Inputs.Model]: model,
    [Inputs.Data]: scanFlags.data,
    [Inputs.ReportPath]: scanFlags.report,
    [Inputs.ArtifactsDir]: scanFlags.artifacts,
    [Inputs.Backend]: scanFlags.backend,
    [Inputs.Seed]: scanFlags.seed,
    [Inputs.MaxProbeImages]: scanFlags["max-probe-images"],
    [Inputs.Scans]: scanFlags.scans,
    [Inputs.Policy]: scanFlags.policy,
    [Inputs.FailOn]: scanFlags["fail-on"],
    [Inputs.Thresholds]: scanFlags.thresholds,
    [Inputs.SarifPath]: scanFlags.sarif,
    [Inputs.SarifCategory]: scanFlags["sarif-category"],
    [Inputs.Shard]: scanFlags.shard,
    [Inputs.Jobs]: scanFlags.jobs,
    [Inputs.Threads]: scanFlags.threads
  };
  const settings = buildSettings((name) => inputs[name]);
  const github = await openGitHub(process.env.GITHUB_TOKEN ?? "");
  const anchorFiles = [scanFlags.policy ?? DEFAULT_POLICY_PATH];
  const shards = {
    command: { script: process.argv[1], execArgv: process.execArgv },
    flags: [...shardFlags((name) => inputs[name]), ...values.verbose ? ["--verbose"] : []]
  };
  const session = await runWholeScanSession(settings, github, logger, { anchorFiles, shards });
  const { report } = session;
  if (session.reportError) throw session.reportError;
  if (settings.shard && report.verdict !== "error") {
    const { index, count } = settings.shard;
    if (scanFlags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}
`);
    else
      process.stdout.write(
        `${settings.model}: shard ${index}/${count} scanned (a partial report: backdoor-gate merge gives the verdict) \u2192 ${session.reportPath}
`
      );
    return EXIT.pass;
  }
  return verdictOut(settings, session, scanFlags.json, logger);
}
async function merge(reports, flags) {
  if (!reports.length) throw new UsageError("merge: missing <partial reports\u2026>", { cause: "merge" });
  const logger = new ConsoleLogger(flags.verbose);
  const inputs = {
    [Inputs.Merge]: reports.join("\n"),
    [Inputs.ReportPath]: flags.report,
    [Inputs.ArtifactsDir]: flags.artifacts,
    [Inputs.Policy]: flags.policy,
    [Inputs.FailOn]: flags["fail-on"],
    [Inputs.Thresholds]: flags.thresholds,
    [Inputs.SarifPath]: flags.sarif,
    [Inputs.SarifCategory]: flags["sarif-category"]
  };
  const settings = buildSettings((name) => inputs[name]);
  const session = runMergeSession(settings, await openGitHub(""), logger, { anchorFiles: [flags.policy ?? DEFAULT_POLICY_PATH] });
  if (session.reportError) throw session.reportError;
  return verdictOut(settings, session, flags.json, logger);
}
function verdictOut(settings, session, json, logger) {
  const { report } = session;
  if (session.sarifError) logger.warning(`SARIF not written: ${session.sarifError}`);
  const score = report.score === null ? "" : ` score ${report.score.toFixed(3)}`;
  const target = report.suspectedTarget == null ? "" : ` target ${report.suspectedTarget}`;
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}
`);
  else
    process.stdout.write(
      `${settings.model || report.model.spec}: ${report.verdict}${score}${target}${report.error ? ` (${report.error})` : ""} \u2192 ${session.reportPath}
`
    );
  if (outcomeFor(report.verdict, settings.failOn) === "warn")
    logger.warning(`${report.verdict}, but the policy fails only on backdoored: ${report.reasons.join("; ")}`);
  const onError = onErrorFor(report, settings.onError);
  if (outcomeFor(report.verdict, settings.failOn) === "could-not-scan" && onError === "warn")
    logger.warning(
      `${report.verdict}, but the policy ${report.accepted ? "accepts this model unassessed" : "says on-error: warn"}: ${report.reasons.join("; ")}`
    );
  return exitCodeFor(report.verdict, settings.failOn, onError);
}
async function clean(model, values, logger) {
  const str = (k) => typeof values[k] === "string" ? values[k].trim() || void 0 : void 0;
  const data = str("data");
  const out = str("out");
  if (!data)
    throw new ConfigurationError(
      "clean needs --data: a small labelled clean set (ImageFolder <dir>/<class>/*.png, x.npy + y.npy, or mnist:\u2026), 60 images per class is the tested amount"
    );
  if (!out) throw new ConfigurationError("clean needs --out: a new directory for the cleaned model (the input is never replaced)");
  const target = str("target");
  if (target !== void 0 && target !== "none" && !/^\d+$/.test(target))
    throw new ConfigurationError(`clean --target: ${target} is not a class index (0, 1, \u2026) or none`);
  const flagged = target === void 0 ? void 0 : { verdict: "suspicious", target: target === "none" ? null : Number(target) };
  const method = oneOf(str("method"), "method", CLEAN_METHODS, "auto");
  const flags = {
    [Inputs.Model]: model,
    [Inputs.Policy]: str("policy"),
    [Inputs.Thresholds]: str("thresholds"),
    [Inputs.Seed]: str("seed"),
    [Inputs.Backend]: str("backend"),
    [Inputs.CleanMaxAccuracyDrop]: str("max-accuracy-drop"),
    [Inputs.Threads]: str("threads")
  };
  const settings = buildSettings((name) => flags[name]);
  await selectBackendFor(settings, logger, { readsSynchronously: true });
  const reportPath = str("report") ?? "backdoor-gate-clean-report.json";
  let report;
  try {
    report = await runClean(
      { model, data, out, method, seed: settings.seed, policy: settings, force: values.force === true, unlabelled: str("unlabelled"), flagged },
      logger
    );
  } catch (err) {
    const failed = { schemaVersion: 1, tool: { name: TOOL_NAME, version: TOOL_VERSION }, input: { spec: model }, error: describeError(err) };
    const written2 = writeJsonReport(reportPath, failed);
    process.stdout.write(values.json ? `${JSON.stringify(failed, null, 2)}
` : `${model}: error (${describeError(err)}) \u2192 ${written2}
`);
    return EXIT.couldNotScan;
  }
  const written = writeJsonReport(reportPath, report);
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}
`);
  else if (report.skipped) {
    process.stdout.write(`${model}: not cleaned (${report.skipped}) \u2192 ${written}
`);
  } else {
    const failure = cleanedModelFailure(report);
    process.stdout.write(
      `${model}: ${cleanSummary(report)}, re-scan ${report.verdictBefore} \u2192 ${report.verdictAfter}; cleaned model ${report.output?.dir} (${report.output?.digest}) ${failure ? `does not pass: ${failure}` : "passes"} \u2192 ${written}
`
    );
  }
  return cleanedModelPasses(report) ? EXIT.pass : EXIT.fail;
}
var reportFatal = (message) => process.stderr.write(`backdoor-gate: ${message}
`);
exitOnEscapedError(reportFatal, EXIT.couldNotScan);
var settled = failIfEndedEarly(reportFatal, EXIT.couldNotScan);
main(process.argv.slice(2)).then(
  (code) => {
    settled();
    process.exit(code);
  },
  (err) => {
    settled();
    const hint = err instanceof UsageError ? ` (see backdoor-gate ${typeof err.cause === "string" ? `${err.cause} ` : ""}--help)` : "";
    process.stderr.write(`backdoor-gate: ${err instanceof UsageError ? err.message : describeError(err)}${hint}
`);
    process.exit(EXIT.couldNotScan);
  }
);
export {
  UsageError,
  main
};
