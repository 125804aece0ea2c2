import { createRequire as __bgCreateRequire } from 'node:module'; import { fileURLToPath as __bgFileURLToPath } from 'node:url'; const require = __bgCreateRequire(import.meta.url); const __filename = __bgFileURLToPath(import.meta.url); const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));
import {
  ACTION_INPUT_DEFAULTS,
  DEFAULT_POLICY_PATH,
  ExitCode,
  Inputs,
  Outputs,
  actionsArtifacts,
  artifactUrl,
  buildSettings,
  canCallGitHub,
  cleanSummary,
  createOctokit,
  debug,
  describeError,
  ensureNativeBackend,
  error,
  findModelAnchor,
  findingsOf,
  getInput,
  httpStatus,
  info,
  modelLocator,
  notice,
  outcomeFor,
  publishModel,
  readGitHubContext,
  runClean,
  runGate,
  runUrl,
  runnerScratchDir,
  scanTitle,
  selectBackend,
  setFailed,
  setOutput,
  setSecret,
  summary,
  tool_cache_exports,
  warning,
  writeJsonReport,
  writeReportFiles,
  writeSarifReport
} from "./chunks/chunk-NUCBTHB5.js";

// src/main.ts
import path from "node:path";

// src/report/markdown.ts
var LIMITS = { summaryBytes: 1024 * 1024, checkSummaryChars: 65535, commentChars: 65536 };
function escapeHtml(text) {
  return text.replace(/[&<>"'|`\\*_[\]]/g, (c) => `&#${c.charCodeAt(0)};`).replace(/\r?\n/g, " ");
}
var code = (text) => `<code>${escapeHtml(text)}</code>`;
var num = (v, digits = 3) => typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "n/a";
var pct = (v) => typeof v === "number" ? `${(v * 100).toFixed(1)} %` : "n/a";
var VERDICT_BADGE = {
  clean: "\u2705 clean",
  suspicious: "\u26A0\uFE0F suspicious",
  backdoored: "\u26D4 backdoored",
  unassessed: "\u2754 unassessed",
  error: "\u274C could not scan"
};
function overview(report, links) {
  const rows = [
    ["verdict", `<b>${VERDICT_BADGE[report.verdict]}</b>`],
    ["score", report.score === null ? "n/a" : num(report.score)]
  ];
  if (report.suspectedTarget !== void 0 && report.suspectedTarget !== null) rows.push(["suspected target class", String(report.suspectedTarget)]);
  rows.push(["model", code(report.model.spec)]);
  if (report.model.digest) rows.push(["digest", code(report.model.digest)]);
  if (report.model.inputShape) rows.push(["input", `${report.model.inputShape.join("\xD7")}, ${report.model.numClasses ?? "?"} classes (${escapeHtml(report.model.format ?? "model")})`]);
  if (report.data) rows.push(["probe images", `${report.data.count} from ${code(report.data.source)}`]);
  if (report.policy) rows.push(["policy", `${escapeHtml(report.policy.source)}; fails on ${escapeHtml(report.policy.failOn)}`]);
  if (report.engine) rows.push(["backend", escapeHtml(report.engine.backend)]);
  if (report.timings.totalSeconds !== void 0) rows.push(["time", `${num(report.timings.totalSeconds, 1)} s`]);
  if (links?.reportPath) rows.push(["JSON report", code(links.reportPath)]);
  return rows;
}
function table(header, rows) {
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}
function scanRow(scan) {
  const target = typeof scan.suspectedTarget === "number" ? `class ${scan.suspectedTarget}` : "no outlier class";
  switch (scan.method) {
    case "trigger-inversion":
      return [scanTitle(scan.method), target, `anomaly ${num(scan.anomaly, 2)} (over triggers reaching 50 % ASR)`, num(scan.seconds, 1)];
    case "mask-inversion":
      return [scanTitle(scan.method), target, `smallest mask e^${num(scan.ratio, 2)} below the median${scan.inconclusive ? " (inconclusive)" : ""}`, num(scan.seconds, 1)];
    case "input-hessian":
      return [`${scanTitle(scan.method)} (report only)`, "\u2014", `\u03BB\u2081/\u03BB\u2082 ${num(scan.gap, 2)}, spike z ${num(scan.spikeZ, 2)}, localisation ${num(scan.localisation, 1)}`, num(scan.seconds, 1)];
    default:
      return [escapeHtml(scanTitle(scan.method)), target, "", num(scan.seconds, 1)];
  }
}
function perClassTables(report) {
  const out = [];
  for (const scan of report.scans) {
    const rows = scan.perClass;
    if (!Array.isArray(rows) || !rows.length) continue;
    const hasMask = rows.some((r) => typeof r.maskL1 === "number");
    const header = ["class", ...hasMask ? ["mask L1"] : [], "ASR", "anomaly"];
    const body = rows.map((r) => [String(r.class), ...hasMask ? [num(r.maskL1, 1)] : [], pct(r.asr), `${num(r.anomaly, 2)}${r.class === scan.suspectedTarget ? " \u2B05" : ""}`]);
    out.push(`<details><summary>${escapeHtml(scanTitle(scan.method))}: per class</summary>

${table(header, body)}

</details>`);
  }
  return out;
}
function hessianChart(scan) {
  const values = scan.topEigenvalues?.filter((v) => Number.isFinite(v));
  if (!values?.length) return void 0;
  const shown = values.slice(0, 20).map((v) => Number(v.toPrecision(4)));
  return [
    "```mermaid",
    "xychart-beta",
    '  title "Input-Hessian spectrum (top eigenvalues, Gauss-Newton)"',
    `  x-axis [${shown.map((_, i) => i + 1).join(", ")}]`,
    '  y-axis "eigenvalue"',
    `  bar [${shown.join(", ")}]`,
    "```"
  ].join("\n");
}
function hessianTable(scan) {
  const values = scan.topEigenvalues?.slice(0, 10);
  if (!values?.length) return void 0;
  return table(["rank", ...values.map((_, i) => String(i + 1))], [["\u03BB", ...values.map((v) => num(v, 4))]]);
}
function cleaningSection(clean) {
  const rows = [
    ["held-out accuracy", pct(clean.before.heldOutAccuracy), pct(clean.after?.heldOutAccuracy)],
    ["recovered-trigger ASR", pct(clean.before.recoveredTriggerAsr), pct(clean.after?.recoveredTriggerAsr)],
    ["verdict", escapeHtml(clean.verdictBefore), escapeHtml(clean.verdictAfter ?? "n/a")]
  ];
  const where = clean.output ? `cleaned model ${code(clean.output.dir)} (${code(clean.output.digest)})` : `nothing written: ${escapeHtml(clean.skipped ?? "unknown")}`;
  return [`### Cleaning (${escapeHtml(clean.method)})`, "", where, "", table(["", "before", "after"], rows), ""];
}
function renderMarkdown(report, options, maxChars = LIMITS.commentChars) {
  const head = [
    `## \u{1F6E1}\uFE0F ${escapeHtml(options.title ?? "Backdoor Gate")}: ${VERDICT_BADGE[report.verdict]}`,
    "",
    table(["", ""], overview(report, options.links)),
    ""
  ];
  if (report.reasons.length || report.error) head.push("### Why", "", ...report.error ? [`- ${escapeHtml(report.error)}`] : [], ...report.reasons.map((r) => `- ${escapeHtml(r)}`), "");
  const detail = [];
  if (report.scans.length) detail.push("### Scans", "", table(["scan", "points at", "figure", "seconds"], report.scans.map(scanRow)), "", ...perClassTables(report).flatMap((t) => [t, ""]));
  const hessian = report.scans.find((s) => s.method === "input-hessian");
  if (hessian) {
    const chart = options.mermaid ? hessianChart(hessian) : hessianTable(hessian);
    if (chart) detail.push("### Input-Hessian spectrum", "", chart, "");
  }
  const links = options.links;
  if (links?.imagesUrl) detail.push(`Reconstructed triggers, masks and the top Hessian eigenvector: [scan images](${encodeURI(links.imagesUrl)}).`, "");
  else if (links?.imagesNote) detail.push(`Scan images: ${escapeHtml(links.imagesNote)}`, "");
  if (options.clean) detail.push(...cleaningSection(options.clean));
  const foot = links?.runUrl ? [`<sub>[Full report in the job summary](${encodeURI(links.runUrl)}) \xB7 ${escapeHtml(report.tool.name)} ${escapeHtml(report.tool.version)}</sub>`] : [`<sub>${escapeHtml(report.tool.name)} ${escapeHtml(report.tool.version)}</sub>`];
  const full = [...head, ...detail, ...foot].join("\n");
  if (full.length <= maxChars) return full;
  const short = [...head, `_Details trimmed to stay within GitHub's ${maxChars}-character limit; see the JSON report._`, "", ...foot].join("\n");
  return short.length <= maxChars ? short : `${short.slice(0, maxChars - 40)}

_(trimmed to the limit)_`;
}
var commentMarker = (key) => `<!-- backdoor-gate:${key.replace(/-->/g, "")} -->`;
function renderComment(report, key, options) {
  const marker = commentMarker(key);
  return `${renderMarkdown(report, options, LIMITS.commentChars - marker.length - 1)}
${marker}`;
}

// src/report/check.ts
var ANNOTATION_LEVEL = { error: "failure", warning: "warning", note: "notice" };
var cut = (text, max) => text.length <= max ? text : `${text.slice(0, max - 1)}\u2026`;
function checkConclusion(report, failOn, onError) {
  const outcome = outcomeFor(report.verdict, failOn);
  if (outcome === "pass") return "success";
  if (outcome === "warn" || outcome === "could-not-scan" && onError === "warn") return "neutral";
  return "failure";
}
function checkRunOutput(report, anchor, options) {
  const annotations = findingsOf(report).map((f) => ({
    path: anchor.path,
    start_line: anchor.line,
    end_line: anchor.line,
    annotation_level: ANNOTATION_LEVEL[f.level],
    title: cut(f.title, 255),
    message: cut(f.message, 6e4),
    raw_details: cut(JSON.stringify({ rule: f.rule.id, model: report.model.spec, digest: report.model.digest, targetClass: f.targetClass }), 6e4)
  }));
  const score = report.score === null ? "" : ` (score ${report.score.toFixed(3)})`;
  return {
    conclusion: options.cleanedPasses ? "neutral" : checkConclusion(report, options.failOn, options.onError),
    output: {
      title: cut(`${VERDICT_BADGE[report.verdict]}${score}`, 255),
      summary: renderMarkdown(report, { mermaid: false, links: options.links, clean: options.clean }, LIMITS.checkSummaryChars),
      annotations
    }
  };
}
function annotationBatches(annotations, size = 50) {
  const batches = [];
  for (let i = 0; i < annotations.length; i += size) batches.push(annotations.slice(i, i + size));
  return batches;
}

// src/github/checks.ts
async function createCheckRun(octokit, ctx, name) {
  const { data } = await octokit.rest.checks.create({
    owner: ctx.owner,
    repo: ctx.repo,
    name,
    head_sha: ctx.headSha,
    status: "in_progress",
    started_at: (/* @__PURE__ */ new Date()).toISOString().replace(/\.\d+Z$/, "Z"),
    output: { title: "Scanning the model", summary: "Backdoor Gate is scanning the model." }
  });
  return { id: data.id, url: data.html_url ?? "" };
}
async function completeCheckRun(octokit, ctx, run2, result) {
  const batches = annotationBatches(result.output.annotations);
  const base = { owner: ctx.owner, repo: ctx.repo, check_run_id: run2.id };
  const { title, summary: summary2 } = result.output;
  for (const annotations of batches.slice(0, -1)) await octokit.rest.checks.update({ ...base, output: { title, summary: summary2, annotations } });
  await octokit.rest.checks.update({
    ...base,
    status: "completed",
    conclusion: result.conclusion,
    completed_at: (/* @__PURE__ */ new Date()).toISOString().replace(/\.\d+Z$/, "Z"),
    output: { title, summary: summary2, annotations: batches.at(-1) ?? [] }
  });
}

// src/github/comment.ts
async function upsertStickyComment(octokit, ctx, marker, body) {
  const where = { owner: ctx.owner, repo: ctx.repo, issue_number: ctx.pullNumber };
  for await (const page of octokit.paginate.iterator(octokit.rest.issues.listComments, { ...where, per_page: 100 })) {
    const mine = page.data.find((c) => c.body?.includes(marker) && c.user?.type === "Bot");
    if (mine) {
      const { data: data2 } = await octokit.rest.issues.updateComment({ owner: where.owner, repo: where.repo, comment_id: mine.id, body });
      return { url: data2.html_url, updated: true };
    }
  }
  const { data } = await octokit.rest.issues.createComment({ ...where, body });
  return { url: data.html_url, updated: false };
}

// src/github/surfaces.ts
async function writeSurface(name, permission, logger, write) {
  try {
    return { ok: true, value: await write() };
  } catch (err) {
    const status = httpStatus(err);
    const reason = status === 403 || status === 404 ? `HTTP ${status}: the token cannot do this (it needs \`${permission}\`; pull requests from forks get a read-only token)` : describeError(err);
    logger.warning(`${name} skipped: ${reason}. The verdict stands; it is in the job summary and the log.`);
    return { ok: false, reason };
  }
}

// src/github/reporting.ts
var GitHubReporter = class {
  constructor(deps) {
    this.deps = deps;
  }
  check;
  /** Opens the check run before the scan, so the PR shows it in progress. */
  async begin() {
    const { ctx, settings, logger } = this.deps;
    const { octokit } = this.deps;
    if (!octokit || !settings.checkRun) return;
    if (!ctx.headSha) return logger.notice("check run skipped: no commit sha (GITHUB_SHA) in this run");
    if (ctx.fromFork) return logger.notice("check run skipped: pull requests from forks get a read-only token; the job summary and log annotations carry the verdict");
    const created = await writeSurface("check run", "checks: write", logger, () => createCheckRun(octokit, ctx, settings.checkName));
    if (created.ok) this.check = created.value;
  }
  /** Uploads the scan images as an artifact of this run and returns its link (or why there is none). */
  async uploadImages(dir, files) {
    const { ctx, settings, logger, artifacts } = this.deps;
    if (!dir || !files.length) return {};
    const local = { imagesNote: `written to ${dir}` };
    if (!settings.uploadImages || !artifacts || !ctx.runId) return local;
    if (!process.env.ACTIONS_RUNTIME_TOKEN) return { imagesNote: `${local.imagesNote} (no artifact service in this run to upload them to)` };
    const name = `${settings.checkName.replace(/[^A-Za-z0-9._-]+/g, "-").toLowerCase()}-scan-images-${ctx.runId}-${process.env.GITHUB_JOB ?? "job"}`;
    const up = await writeSurface("scan images artifact", "actions: write", logger, () => artifacts.upload(name, files, dir));
    return up.ok && up.value.id ? { imagesUrl: artifactUrl(ctx, up.value.id) } : local;
  }
  /** Closes an open check run as failed when the run broke before a report existed. */
  async abort(message) {
    const { ctx, logger, octokit } = this.deps;
    const check = this.check;
    if (!octokit || !check) return;
    this.check = void 0;
    await writeSurface(
      "check run",
      "checks: write",
      logger,
      () => completeCheckRun(octokit, ctx, check, { conclusion: "failure", output: { title: "\u274C could not run", summary: escapeHtml(message), annotations: [] } })
    );
  }
  /** Completes the check run and updates the sticky comment; returns the check run's URL. */
  async finish(report, anchor, options) {
    const { ctx, settings, logger } = this.deps;
    const { octokit } = this.deps;
    let checkRunUrl;
    if (octokit && this.check) {
      const check = this.check;
      const done = await writeSurface("check run", "checks: write", logger, () => completeCheckRun(octokit, ctx, check, checkRunOutput(report, anchor, options)));
      if (done.ok) checkRunUrl = check.url;
    }
    if (octokit && settings.comment && ctx.pullNumber) {
      if (ctx.fromFork) logger.notice("PR comment skipped: pull requests from forks get a read-only token");
      else {
        const body = renderComment(report, settings.checkName, { mermaid: true, links: { ...options.links, reportPath: void 0 }, clean: options.clean, title: settings.checkName });
        const res = await writeSurface("PR comment", "pull-requests: write", logger, () => upsertStickyComment(octokit, ctx, commentMarker(settings.checkName), body));
        if (res.ok) logger.info(`PR comment ${res.value.updated ? "updated" : "created"}: ${res.value.url}`);
      }
    }
    return { checkRunUrl };
  }
};

// src/main.ts
var actionsLogger = {
  info: (m) => info(m),
  notice: (m) => notice(m),
  warning: (m) => warning(m),
  error: (m) => error(m),
  debug: (m) => debug(m)
};
var actionInput = (name) => getInput(name) || ACTION_INPUT_DEFAULTS[name] || "";
async function cleanFlagged(location, settings) {
  const clean = settings.clean;
  try {
    const report = await runClean({ model: location, data: clean.data, out: clean.out, method: clean.method, seed: 0 }, actionsLogger);
    writeJsonReport(clean.reportPath, report);
    if (!report.output) {
      warning(`clean: ${report.skipped ?? "nothing written"}`);
      return { passes: false, report };
    }
    setOutput(Outputs.CleanedModelPath, report.output.dir);
    setOutput(Outputs.CleanedVerdict, report.verdictAfter ?? "");
    const summary2 = `${cleanSummary(report)}, re-scan ${report.verdictAfter}`;
    if (report.verdictAfter !== "clean") {
      warning(`clean: the cleaned model is still ${report.verdictAfter} (${summary2}); the input model fails the gate`);
      return { passes: false, report };
    }
    warning(`${settings.model} is ${report.verdictBefore}; the cleaned model ${report.output.dir} (${report.output.digest}) passes the re-scan: ${summary2}. Ship the cleaned model, not the input.`);
    return { passes: true, report };
  } catch (err) {
    warning(`clean: ${describeError(err)}; the input model fails the gate`);
    return { passes: false };
  }
}
async function publishCleaned(settings, cleaned, resolved, github) {
  const target = settings.github.publish;
  const base = path.basename(settings.model.replace(/^(release|artifact):/, "").replace(/[/\\]+$/, "")).replace(/(\.tar\.gz|\.tgz|\.zip|\.tar|\.json)$/i, "").replace(/[^A-Za-z0-9._-]+/g, "-") || "model";
  const assetName = settings.github.publishName ?? `${base}-cleaned.tar.gz`;
  const published = await writeSurface(
    `publish (${target.kind})`,
    target.kind === "release" ? "contents: write" : "actions: write",
    actionsLogger,
    () => publishModel(target, cleaned.output.dir, assetName, settings.github.publishOverwrite, resolved?.release, { ...github, logger: actionsLogger, tempDir: runnerScratchDir() })
  );
  if (!published.ok) return;
  setOutput(Outputs.CleanedModelUrl, published.value.url);
  info(`published the cleaned model: ${published.value.url}`);
}
function logAnnotations(report, anchor, passing) {
  const perLevel = { error: 0, warning: 0, note: 0 };
  for (const f of findingsOf(report).slice(1)) {
    if (++perLevel[f.level] > 10) continue;
    const props = { title: f.title, file: anchor.path, startLine: anchor.line };
    if (f.level === "error" && !passing) error(f.message, props);
    else if (f.level !== "note") warning(f.message, props);
    else notice(f.message, props);
  }
}
async function run() {
  let reporter;
  try {
    const settings = buildSettings(actionInput);
    if (settings.github.token) setSecret(settings.github.token);
    const ctx = readGitHubContext(settings.github.token);
    const octokit = canCallGitHub(ctx) ? createOctokit(ctx) : void 0;
    if (!octokit) notice(`No GitHub token or repository in this run: the check run, PR comment and uploads are skipped; the job summary and log carry the verdict.`);
    const artifacts = octokit ? actionsArtifacts(ctx) : void 0;
    reporter = new GitHubReporter({ ctx, settings: settings.github, octokit, artifacts, logger: actionsLogger });
    await reporter.begin();
    const nativeDirs = [];
    if (settings.installNativeBackend) {
      const native = await ensureNativeBackend(tool_cache_exports, actionsLogger);
      if ("dir" in native) nativeDirs.push(native.dir);
      else warning(`install-native-backend: ${native.error}; continuing without it`);
    }
    const engine = await selectBackend({ choice: settings.backend, nativeDirs, logger: actionsLogger });
    const locator = modelLocator(settings, { ctx, octokit, artifacts, logger: actionsLogger });
    const { report, images } = await runGate(settings, engine, actionsLogger, locator.locate);
    setOutput(Outputs.Verdict, report.verdict);
    setOutput(Outputs.Score, report.score === null ? "" : String(report.score));
    let reportPath = "";
    try {
      reportPath = writeReportFiles(report, images, settings.reportPath, settings.artifactsDir);
      if (report.artifacts && "error" in report.artifacts) warning(`scan images not written: ${report.artifacts.error}`);
    } catch (err) {
      warning(`JSON report not written: ${describeError(err)}`);
    }
    setOutput(Outputs.ReportPath, reportPath);
    const anchor = findModelAnchor(ctx.workspace, settings.model, [ctx.workflowPath, actionInput(Inputs.Policy) || DEFAULT_POLICY_PATH]);
    if (settings.github.sarifPath) {
      try {
        setOutput(Outputs.SarifPath, writeSarifReport(settings.github.sarifPath, report, anchor));
      } catch (err) {
        warning(`SARIF not written: ${describeError(err)}`);
      }
    }
    let cleaned = { passes: false };
    if (settings.clean && (report.verdict === "suspicious" || report.verdict === "backdoored")) {
      cleaned = await cleanFlagged(report.model.origin?.location ?? settings.model, settings);
      if (cleaned.passes && settings.github.publish) await publishCleaned(settings, cleaned.report, locator.resolved(), { ctx, octokit, artifacts });
    }
    const written = report.artifacts && "dir" in report.artifacts ? report.artifacts : void 0;
    const links = { reportPath: reportPath || void 0, runUrl: runUrl(ctx), ...await reporter.uploadImages(written?.dir, written?.files.map((f) => path.join(written.dir, f)) ?? []) };
    if (process.env.GITHUB_STEP_SUMMARY) {
      try {
        await summary.addRaw(renderMarkdown(report, { mermaid: true, links, clean: cleaned.report, title: settings.github.checkName }, 256 * 1024)).write();
      } catch (err) {
        warning(`job summary not written: ${describeError(err)}`);
      }
    }
    const { checkRunUrl } = await reporter.finish(report, anchor, { failOn: settings.failOn, onError: settings.onError, links, clean: cleaned.report, cleanedPasses: cleaned.passes });
    if (checkRunUrl) setOutput(Outputs.CheckRunUrl, checkRunUrl);
    logAnnotations(report, anchor, cleaned.passes);
    info(`verdict: ${report.verdict}; report: ${reportPath}`);
    const conclusion = checkConclusion(report, settings.failOn, settings.onError);
    if (conclusion === "success" || cleaned.passes) return;
    const message = `Backdoor Gate: ${report.verdict} \u2014 ${report.reasons.join("; ")}`;
    const props = { title: `Backdoor Gate: ${report.verdict}`, file: anchor.path, startLine: anchor.line };
    if (conclusion === "neutral") warning(message, props);
    else {
      error(message, props);
      process.exitCode = ExitCode.Failure;
    }
  } catch (err) {
    setOutput(Outputs.Verdict, "error");
    setFailed(`Backdoor Gate could not run: ${describeError(err)}`);
    await reporter?.abort(`Backdoor Gate could not run: ${describeError(err)}`);
  }
}

// src/index.ts
await run();
