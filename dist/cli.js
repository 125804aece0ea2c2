#!/usr/bin/env node
import { createRequire as __bgCreateRequire } from 'node:module'; import { fileURLToPath as __bgFileURLToPath } from 'node:url'; const require = __bgCreateRequire(import.meta.url); const __filename = __bgFileURLToPath(import.meta.url); const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));
import {
  AUTO_METHOD,
  CLEAN_METHODS,
  ConfigurationError,
  DEFAULTS,
  DEFAULT_POLICY_PATH,
  EXIT,
  Inputs,
  MIN_IMAGES_PER_CLASS,
  TOOL_NAME,
  TOOL_VERSION,
  actionsArtifacts,
  buildSettings,
  canCallGitHub,
  cleanSummary,
  createOctokit,
  describeError,
  exitCodeFor,
  findModelAnchor,
  integer,
  modelLocator,
  oneOf,
  outcomeFor,
  parseBackendChoice,
  readGitHubContext,
  runClean,
  runGate,
  selectBackend,
  writeJsonReport,
  writeReportFiles,
  writeSarifReport
} from "./chunks/chunk-NUCBTHB5.js";

// src/cli.ts
import { parseArgs } from "node:util";

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
       backdoor-gate clean <model> --data <labelled clean data> --out <dir> [--method ${CLEAN_METHODS.join("|")}]

  <model>                   model directory, model.json or .onnx path, bundle (.tar.gz/.tgz/.zip/.tar), http(s)
                            URL of a model.json, .onnx or bundle, release:<tag>/<asset> or artifact:<name>[@<run id>]
                            (these two read GITHUB_TOKEN and GITHUB_REPOSITORY)
  --data <spec>             probe images: a folder of PNG/JPEG, x.npy (+ y.npy), an ImageFolder,
                            mnist[:test|heldout|train|all], or synthetic (default: synthetic OOD images)
  --report <file>           JSON report path (default: ${DEFAULTS.reportPath})
  --sarif <file>            also write SARIF 2.1.0 (for code scanning) to <file>
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

clean: scans, removes the backdoor with the method, re-scans, and writes the cleaned model to
--out (never over an existing model). --data must be labelled: an ImageFolder
(<dir>/<class index>/*.png), an x.npy + y.npy pair or mnist:\u2026, at least ${MIN_IMAGES_PER_CLASS} images per class
(60 is the tested amount); a fifth of each class is held out to measure accuracy before and after.
Methods: unlearn (trigger unlearning), onp (ONP-style pruning + recovery), d3 (distance-driven
detoxification), par (PAR-style recovery); auto runs ${AUTO_METHOD} (unlearn on ONNX models) on the recovered
trigger, and leaves a model with no recovered trigger as it is; onp and par need a tfjs layers model.
auto first checks for warp (WaNet-style) backdoors and unlearns them adversarially.
A cleaned model is written in the input's format (model.json + shard, or model.onnx). Report: --report
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
      sarif: { type: "string" },
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
    [Inputs.Thresholds]: values.thresholds,
    [Inputs.SarifPath]: values.sarif
  };
  const settings = buildSettings((name) => flags[name]);
  const engine = await selectBackend({ choice: settings.backend, logger });
  const ctx = readGitHubContext(process.env.GITHUB_TOKEN ?? "");
  const octokit = canCallGitHub(ctx) ? createOctokit(ctx) : void 0;
  const { locate } = modelLocator(settings, { ctx, octokit, artifacts: octokit ? actionsArtifacts(ctx) : void 0, logger });
  const { report, images } = await runGate(settings, engine, logger, locate);
  const written = writeReportFiles(report, images, settings.reportPath, settings.artifactsDir);
  if (report.artifacts && "error" in report.artifacts) logger.warning(`scan images not written: ${report.artifacts.error}`);
  if (settings.github.sarifPath) {
    const anchor = findModelAnchor(process.cwd(), settings.model, [values.policy ?? DEFAULT_POLICY_PATH]);
    writeSarifReport(settings.github.sarifPath, report, anchor);
  }
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
  if (report.skipped) {
    process.stdout.write(`${model}: not cleaned (${report.skipped}) \u2192 ${written}
`);
    return EXIT.fail;
  }
  process.stdout.write(
    `${model}: ${cleanSummary(report)}, re-scan ${report.verdictBefore} \u2192 ${report.verdictAfter}; cleaned model ${report.output?.dir} (${report.output?.digest}) \u2192 ${written}
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
