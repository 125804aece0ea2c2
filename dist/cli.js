#!/usr/bin/env node
import { createRequire as __bgCreateRequire } from 'node:module'; import { fileURLToPath as __bgFileURLToPath } from 'node:url'; const require = __bgCreateRequire(import.meta.url); const __filename = __bgFileURLToPath(import.meta.url); const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));
import {
  ConfigurationError,
  DEFAULTS,
  DEFAULT_POLICY_PATH,
  EXIT,
  Inputs,
  TOOL_VERSION,
  buildSettings,
  describeError,
  exitCodeFor,
  outcomeFor,
  runGate,
  selectBackend,
  writeReportFiles
} from "./chunks/chunk-7KW37XR6.js";

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
  if (command !== "scan") throw new ConfigurationError(`unknown command '${command}' (try: backdoor-gate scan <model>)`);
  if (extra.length) throw new ConfigurationError(`unexpected arguments: ${extra.join(" ")}`);
  const logger = new ConsoleLogger(values.verbose);
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
