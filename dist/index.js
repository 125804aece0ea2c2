import { createRequire as __bgCreateRequire } from 'node:module'; import { fileURLToPath as __bgFileURLToPath } from 'node:url'; const require = __bgCreateRequire(import.meta.url); const __filename = __bgFileURLToPath(import.meta.url); const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));
import {
  ACTION_INPUT_DEFAULTS,
  ConfigurationError,
  DEFAULT_POLICY_PATH,
  ExitCode,
  InputError,
  Inputs,
  Outputs,
  Qn,
  artifactUrl,
  buildSettings,
  cleanSummary,
  cleanedModelFailure,
  debug,
  describeError,
  ensureNativeBackend,
  error,
  exitOnEscapedError,
  featuresOf,
  findingsOf,
  getInput,
  group,
  httpStatus,
  info,
  isDebug,
  isFlagged,
  notice,
  onErrorFor,
  openGitHub,
  outcomeFor,
  percent,
  phasesText,
  runClean,
  runMergeSession,
  runScanSession,
  runUrl,
  runWholeScanSession,
  runnerScratchDir,
  scanTitle,
  setFailed,
  setOutput,
  setSecret,
  shardFlags,
  summary,
  thresholdsFor,
  tool_cache_exports,
  warning,
  writeJsonReport
} from "./chunks/chunk-RHHQSNEY.js";
import "./chunks/chunk-IJER4GQI.js";

// src/main.ts
import { existsSync } from "node:fs";
import path2 from "node:path";

// src/github/publish.ts
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
var MAX_ASSET_BYTES = 2 * 1024 * 1024 * 1024 - 1;
function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort();
}
async function bundleModel(dir, file) {
  const names = filesUnder(dir).map((f) => path.relative(dir, f));
  await Qn({ gzip: true, file, cwd: dir, portable: true, mtime: /* @__PURE__ */ new Date(0), noDirRecurse: true }, names);
}
async function publishModel(target, modelDir, assetName, overwrite, sourceRelease, deps) {
  const { ctx, octokit } = deps;
  if (target.kind === "artifact") {
    if (!deps.artifacts) throw new ConfigurationError("publish: artifact uploads are not available here");
    const name = target.name ?? assetName.replace(/\.tar\.gz$/, "");
    const { id } = await deps.artifacts.upload(name, filesUnder(modelDir), modelDir);
    if (!id) throw new Error(`artifact ${name} was uploaded but GitHub returned no id`);
    return { url: artifactUrl(ctx, id) };
  }
  const tag = target.tag ?? sourceRelease?.tag;
  if (!tag) throw new ConfigurationError("publish: release needs a tag (publish: release:<tag>) unless the model came from a release");
  if (!octokit || !ctx.owner || !ctx.repo) throw new ConfigurationError("publish: release needs github-token and GITHUB_REPOSITORY");
  const owner = ctx.owner;
  const repo = ctx.repo;
  const release = (await octokit.rest.repos.getReleaseByTag({ owner, repo, tag })).data;
  const existing = release.assets.find((a) => a.name === assetName);
  if (existing && !overwrite) throw new InputError(`release ${tag}`, `already has an asset '${assetName}'; set publish-overwrite: true to replace it`);
  const bundle = path.join(deps.tempDir, assetName);
  await bundleModel(modelDir, bundle);
  const size = statSync(bundle).size;
  if (size > MAX_ASSET_BYTES) throw new InputError(bundle, `is ${size} bytes; release assets must be under 2 GiB`);
  if (existing) {
    await octokit.rest.repos.deleteReleaseAsset({ owner, repo, asset_id: existing.id });
    deps.logger.info(`publish: replaced asset ${assetName} on release ${tag} (publish-overwrite: true)`);
  }
  const { data } = await octokit.rest.repos.uploadReleaseAsset({
    owner,
    repo,
    release_id: release.id,
    name: assetName,
    // Uploads go to the host in the release's upload_url (uploads.github.com on github.com).
    baseUrl: new URL(release.upload_url.replace(/\{.*\}$/, "")).origin,
    data: readFileSync(bundle),
    headers: { "content-type": "application/gzip", "content-length": size }
  });
  return { url: data.browser_download_url, replaced: Boolean(existing) };
}

// src/github/reporting.ts
import { sep } from "node:path";

// src/report/markdown.ts
var LIMITS = { summaryBytes: 1024 * 1024, checkSummaryChars: 65535, commentChars: 65536 };
function escapeHtml(text) {
  return text.replace(/[&<>"'|`\\*_[\]]/g, (c) => `&#${c.charCodeAt(0)};`).replace(/\r?\n/g, " ");
}
var code = (text) => `<code>${escapeHtml(text)}</code>`;
var num = (v, digits = 3) => typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "n/a";
var pct = (v) => typeof v === "number" ? percent(v) : "n/a";
var VERDICT_BADGE = {
  clean: "\u2705 clean",
  suspicious: "\u26A0\uFE0F suspicious",
  backdoored: "\u26D4 backdoored",
  unassessed: "\u2754 unassessed",
  error: "\u274C could not scan"
};
var verdictBadge = (report) => `${VERDICT_BADGE[report.verdict]}${report.accepted ? " (accepted by the policy)" : ""}`;
function overview(report, links) {
  const rows = [
    ["verdict", `<b>${verdictBadge(report)}</b>`],
    ["score", report.score === null ? "n/a" : num(report.score)]
  ];
  if (report.suspectedTarget !== void 0 && report.suspectedTarget !== null) rows.push(["suspected target class", String(report.suspectedTarget)]);
  rows.push(["model", code(report.model.spec)]);
  if (report.model.digest) rows.push(["digest", code(report.model.digest)]);
  if (report.accepted)
    rows.push(["accepted", `by ${code(report.accepted.policy)} (accept-unassessed)${report.accepted.note ? `: ${escapeHtml(report.accepted.note)}` : ""}`]);
  if (report.model.inputShape)
    rows.push([
      "input",
      `${report.model.inputShape.join("\xD7")}, ${report.model.numClasses ?? "?"} classes (${escapeHtml(report.model.format ?? "model")}${report.model.classPrompts ? `, class prompts: ${report.model.classPrompts}` : ""})`
    ]);
  const structure = report.model.structure;
  if (structure) rows.push(["network", featuresOf(structure).join(", ") || "no skip connections or depthwise convolutions"]);
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
function decisionOf(report, method) {
  const t = report.policy?.thresholds && thresholdsFor(report.policy.thresholds, {
    numClasses: report.model.numClasses ?? 10,
    decision: report.model.head === "multi-label" ? "multi-label" : "single-label",
    structure: report.model.structure,
    dualEncoder: report.model.format === "dual-encoder"
  });
  const name = `${method} statistic`;
  switch (method) {
    case "trigger-inversion":
      return report.statistics?.dense && { stat: report.statistics.dense, threshold: t?.inversion, name };
    case "mask-inversion":
      return report.statistics?.mask && { stat: report.statistics.mask, threshold: t?.maskInversion, name };
    case "max-margin":
      return report.statistics?.maxMargin && { stat: report.statistics.maxMargin, threshold: report.policy?.thresholds?.maxMargin, name };
    case "input-hessian":
      return void 0;
  }
}
function scanRow(report, scan) {
  const title = escapeHtml(scanTitle(scan.method));
  switch (scan.method) {
    case "trigger-inversion":
    case "mask-inversion": {
      const d = decisionOf(report, scan.method);
      const target = d ? d.stat.target : scan.suspectedTarget;
      const figure = d ? `${d.name} ${num(d.stat.value, 2)}${d.threshold ? ` (suspicious > ${d.threshold.suspicious}, backdoored > ${d.threshold.backdoored})` : ""}${"inconclusive" in scan && scan.inconclusive ? ", inconclusive" : ""}` : "";
      const u = scan.method === "mask-inversion" ? report.statistics?.untargeted : void 0;
      const ut = report.policy?.thresholds?.untargetedMask;
      const untargeted = u ? `; untargeted mask statistic ${num(u.value, 2)}${ut ? ` (suspicious > ${ut.suspicious}, backdoored > ${ut.backdoored})` : ""}` : "";
      return [title, target === null ? "no class" : `class ${target}`, figure + untargeted, num(scan.seconds, 1)];
    }
    case "max-margin": {
      const d = decisionOf(report, scan.method);
      const figure = d ? `\u2212log\u2081\u2080 p ${num(d.stat.value, 2)}${d.threshold ? ` (suspicious > ${d.threshold.suspicious}, backdoored > ${d.threshold.backdoored})` : ""}` : "not judged (two-class or multi-label head)";
      return [title, d ? `class ${d.stat.target}` : "\u2014", figure, num(scan.seconds, 1)];
    }
    case "input-hessian":
      return [
        `${title} (report only)`,
        "\u2014",
        `\u03BB\u2081/\u03BB\u2082 ${num(scan.gap, 2)}, spike z ${num(scan.spikeZ, 2)}, localisation ${num(scan.localisation, 1)}`,
        num(scan.seconds, 1)
      ];
  }
}
function decisionChart(report) {
  const candidates = report.scans.flatMap((scan) => {
    if (scan.method === "max-margin") return [];
    const d2 = decisionOf(report, scan.method);
    return d2?.threshold && d2.stat.perClass?.some((v) => v !== null) ? [d2] : [];
  });
  if (!candidates.length) return void 0;
  const d = candidates.reduce((a, c) => c.stat.value - c.threshold.suspicious > a.stat.value - a.threshold.suspicious ? c : a);
  const values = d.stat.perClass.map((v) => v === null ? 0 : Number(v.toFixed(3)));
  const line = values.map(() => d.threshold.suspicious);
  return [
    "```mermaid",
    "xychart-beta",
    `  title "${d.name} per class (line: suspicious threshold ${d.threshold.suspicious})"`,
    `  x-axis [${values.map((_, c) => c).join(", ")}]`,
    '  y-axis "statistic"',
    `  bar [${values.join(", ")}]`,
    `  line [${line.join(", ")}]`,
    "```"
  ].join("\n");
}
function perClassTables(report) {
  const out = [];
  for (const scan of report.scans) {
    if (scan.method === "input-hessian" || !scan.perClass.length) continue;
    const d = decisionOf(report, scan.method);
    if (scan.method === "max-margin") {
      const body2 = scan.perClass.map((r) => [
        String(r.class),
        `${num(r.maxMargin, 2)}${r.screened ? " (screened only)" : ""}`,
        r.class === d?.stat.target ? "\u2B05" : ""
      ]);
      out.push(`<details><summary>${escapeHtml(scanTitle(scan.method))}: per class</summary>

${table(["class", "largest margin", ""], body2)}

</details>`);
      continue;
    }
    const maskL1 = (r) => "maskL1" in r ? [num(r.maskL1, 1)] : [];
    const header = ["class", ...scan.method === "mask-inversion" ? ["mask L1"] : [], "ASR", "probe share", "statistic"];
    const body = scan.perClass.map((r) => {
      const v = d?.stat.perClass?.[r.class];
      const stat = r.testable === false ? "untestable (sink)" : r.screened ? "screened only" : v === null || v === void 0 ? "\u2014" : num(v, 2);
      return [String(r.class), ...maskL1(r), pct(r.asr), pct(r.share), `${stat}${r.class === d?.stat.target ? " \u2B05" : ""}`];
    });
    out.push(`<details><summary>${escapeHtml(scanTitle(scan.method))}: per class</summary>

${table(header, body)}

</details>`);
  }
  return out;
}
function hessianChart(scan) {
  const values = scan.topEigenvalues.filter((v) => Number.isFinite(v));
  if (!values.length) return void 0;
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
  const values = scan.topEigenvalues.slice(0, 10);
  if (!values.length) return void 0;
  return table(["rank", ...values.map((_, i) => String(i + 1))], [["\u03BB", ...values.map((v) => num(v, 4))]]);
}
function cleaningSection(clean) {
  const rows = [
    ["held-out accuracy", pct(clean.before.heldOutAccuracy), pct(clean.after?.heldOutAccuracy)],
    ["recovered-trigger ASR", pct(clean.before.recoveredTriggerAsr), pct(clean.after?.recoveredTriggerAsr)],
    ["verdict", escapeHtml(clean.verdictBefore), escapeHtml(clean.verdictAfter ?? "n/a")]
  ];
  const failure = cleanedModelFailure(clean);
  const where = clean.output ? `cleaned model ${code(clean.output.dir)} (${code(clean.output.digest)}): ${failure ? `**does not pass**: ${escapeHtml(failure)}` : "passes"}` : `nothing written: ${escapeHtml(clean.skipped ?? "unknown")}`;
  const cost = clean.accuracyCost;
  const costLine = cost ? [
    `Accuracy cost: ${num(cost.points, 1)} points on ${cost.heldOutImages} held-out images (the policy allows ${num(cost.allowedPoints, 1)})${cost.interval95 ? `; 95 % interval ${num(cost.interval95[0], 1)} to ${num(cost.interval95[1], 1)} points` : ""}.`,
    ""
  ] : [];
  const held = clean.data.heldBackProbes;
  const judgedOn = clean.rescannedImages === void 0 ? [] : [
    `Re-scanned on ${clean.rescannedImages} images the cleaning never read: ${held ? `${held} unlabelled images held back from the probes and ` : ""}${clean.data.heldOut} held-out labelled ones.`,
    ""
  ];
  const took = clean.totalSeconds === void 0 ? [] : [`Took ${num(clean.totalSeconds, 0)} s: ${escapeHtml(phasesText(clean.timings))}.`, ""];
  const done = clean.steps?.length ? ["What was done:", "", ...clean.steps.map((s, i) => `${i + 1}. ${escapeHtml(s)}`), ""] : [];
  return [`### Cleaning (${escapeHtml(clean.method)})`, "", where, "", table(["", "before", "after"], rows), "", ...costLine, ...judgedOn, ...done, ...took];
}
function renderMarkdown(report, options, maxChars = LIMITS.commentChars) {
  const head = [`## \u{1F6E1}\uFE0F ${escapeHtml(options.title ?? "Backdoor Gate")}: ${verdictBadge(report)}`, "", table(["", ""], overview(report, options.links)), ""];
  if (report.reasons.length || report.error)
    head.push("### Why", "", ...report.error ? [`- ${escapeHtml(report.error)}`] : [], ...report.reasons.map((r) => `- ${escapeHtml(r)}`), "");
  const detail = [];
  if (report.scans.length)
    detail.push(
      "### Scans",
      "",
      table(
        ["scan", "points at", "figure", "seconds"],
        report.scans.map((s) => scanRow(report, s))
      ),
      ""
    );
  const chart = options.mermaid ? decisionChart(report) : void 0;
  if (chart) detail.push(chart, "");
  if (options.links?.overviewUrl)
    detail.push(`Every class's reconstructed trigger and mask, the suspect framed: [overview image](${encodeURI(options.links.overviewUrl)}).`, "");
  if (report.scans.length) detail.push(...perClassTables(report).flatMap((t) => [t, ""]));
  const hessian = report.scans.find((s) => s.method === "input-hessian");
  if (hessian) {
    const chart2 = options.mermaid ? hessianChart(hessian) : hessianTable(hessian);
    if (chart2) detail.push("### Input-Hessian spectrum", "", chart2, "");
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
  const annotations = (anchor ? findingsOf(report) : []).map((f) => ({
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
      title: cut(`${verdictBadge(report)}${score}`, 255),
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
var ACTIONS_BOT = "github-actions[bot]";
async function tokenLogin(octokit) {
  try {
    return (await octokit.rest.users.getAuthenticated()).data.login;
  } catch {
    return ACTIONS_BOT;
  }
}
async function upsertStickyComment(octokit, ctx, marker, body, { create = true } = {}) {
  const where = { owner: ctx.owner, repo: ctx.repo, issue_number: ctx.pullNumber };
  const login = await tokenLogin(octokit);
  for await (const page of octokit.paginate.iterator(octokit.rest.issues.listComments, { ...where, per_page: 100 })) {
    const mine = page.data.find((c) => c.body?.includes(marker) && c.user?.login === login);
    if (mine) {
      const { data: data2 } = await octokit.rest.issues.updateComment({ owner: where.owner, repo: where.repo, comment_id: mine.id, body });
      return { url: data2.html_url, action: "updated" };
    }
  }
  if (!create) return { action: "none" };
  const { data } = await octokit.rest.issues.createComment({ ...where, body });
  return { url: data.html_url, action: "created" };
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
    if (ctx.fromFork)
      return logger.notice("check run skipped: pull requests from forks get a read-only token; the job summary and log annotations carry the verdict");
    const created = await writeSurface("check run", "checks: write", logger, () => createCheckRun(octokit, ctx, settings.checkName));
    if (created.ok) this.check = created.value;
  }
  /**
   * Uploads the scan images as an artifact of this run, and the overview image on its own,
   * unzipped, so a reviewer opens it in one click; returns the links (or why there are none).
   */
  async uploadImages(dir, files, runtimeToken = process.env.ACTIONS_RUNTIME_TOKEN) {
    const { ctx, settings, logger, artifacts } = this.deps;
    if (!dir || !files.length) return {};
    const local = { imagesNote: `written to ${dir}` };
    if (!settings.uploadImages || !artifacts || !ctx.runId) return local;
    if (!runtimeToken) return { imagesNote: `${local.imagesNote} (no artifact service in this run to upload them to)` };
    const base = `${settings.checkName.replace(/[^A-Za-z0-9._-]+/g, "-").toLowerCase()}-${ctx.runId}-${process.env.GITHUB_JOB ?? "job"}`;
    const overview2 = files.find((f) => f.endsWith(`${sep}overview.png`) || f === "overview.png");
    const links = {};
    if (overview2) {
      const up2 = await writeSurface(
        "overview image",
        "actions: write",
        logger,
        () => artifacts.upload(`${base}-overview.png`, [overview2], dir, { single: true })
      );
      if (up2.ok && up2.value.id) links.overviewUrl = artifactUrl(ctx, up2.value.id);
    }
    const up = await writeSurface("scan images artifact", "actions: write", logger, () => artifacts.upload(`${base}-scan-images`, files, dir));
    return { ...links, ...up.ok && up.value.id ? { imagesUrl: artifactUrl(ctx, up.value.id) } : local };
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
      const done = await writeSurface(
        "check run",
        "checks: write",
        logger,
        () => completeCheckRun(octokit, ctx, check, checkRunOutput(report, anchor, options))
      );
      if (done.ok) checkRunUrl = check.url;
    }
    if (octokit && settings.comment !== "never" && ctx.pullNumber) {
      if (ctx.fromFork) logger.notice("PR comment skipped: pull requests from forks get a read-only token");
      else {
        const create = settings.comment === "always" || report.verdict !== "clean";
        const body = renderComment(report, settings.checkName, {
          mermaid: true,
          links: { ...options.links, reportPath: void 0 },
          clean: options.clean,
          title: settings.checkName
        });
        const res = await writeSurface(
          "PR comment",
          "pull-requests: write",
          logger,
          () => upsertStickyComment(octokit, ctx, commentMarker(settings.checkName), body, { create })
        );
        if (res.ok && res.value.action !== "none") logger.info(`PR comment ${res.value.action}: ${res.value.url}`);
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
async function cleanFlagged(location, settings, flagged, inputVerdict) {
  const clean = settings.clean;
  const fallback = inputVerdict === "clean" ? "the input model's verdict (clean) stands" : "the input model fails the gate";
  try {
    const report = await runClean(
      {
        model: location,
        data: clean.data,
        out: clean.out,
        method: clean.method,
        seed: settings.seed,
        policy: settings,
        flagged,
        unlabelled: settings.data,
        force: clean.force
      },
      actionsLogger
    );
    writeJsonReport(clean.reportPath, report);
    if (!report.output) {
      warning(`clean: ${report.skipped ?? "nothing written"}`);
      return { passes: false, report };
    }
    setOutput(Outputs.CleanedModelPath, report.output.dir);
    setOutput(Outputs.CleanedVerdict, report.verdictAfter ?? "");
    setOutput(Outputs.CleanedAccuracyDrop, report.accuracyCost ? report.accuracyCost.points.toFixed(1) : "");
    const summary2 = `${cleanSummary(report)}, re-scan ${report.verdictAfter}`;
    const failure = cleanedModelFailure(report);
    if (failure) {
      warning(`clean: the cleaned model does not pass: ${failure} (${summary2}); ${fallback}`);
      return { passes: false, report };
    }
    warning(
      `${settings.model} is ${report.verdictBefore}; the cleaned model ${report.output.dir} (${report.output.digest}) passes the re-scan: ${summary2}. Ship the cleaned model, not the input.`
    );
    return { passes: true, report };
  } catch (err) {
    warning(`clean: ${describeError(err)}; ${fallback}`);
    return { passes: false };
  }
}
async function publishCleaned(settings, cleaned, resolved, github) {
  const target = settings.github.publish;
  const base = path2.basename(settings.model.replace(/^(release|artifact):/, "").replace(/[/\\]+$/, "")).replace(/(\.tar\.gz|\.tgz|\.zip|\.tar|\.json)$/i, "").replace(/[^A-Za-z0-9._-]+/g, "-") || "model";
  const assetName = settings.github.publishName ?? `${base}-cleaned.tar.gz`;
  const published = await writeSurface(
    `publish (${target.kind})`,
    target.kind === "release" ? "contents: write" : "actions: write",
    actionsLogger,
    () => publishModel(target, cleaned.output.dir, assetName, settings.github.publishOverwrite, resolved?.release, {
      ...github,
      logger: actionsLogger,
      tempDir: runnerScratchDir()
    })
  );
  if (!published.ok) return;
  setOutput(Outputs.CleanedModelUrl, published.value.url);
  info(`published the cleaned model: ${published.value.url}`);
}
function logAnnotations(report, anchor, passing) {
  const perLevel = { error: 0, warning: 0, note: 0 };
  for (const f of findingsOf(report).slice(1)) {
    if (++perLevel[f.level] > 10) continue;
    const props = { title: f.title, ...anchor ? { file: anchor.path, startLine: anchor.line } : {} };
    if (f.level === "error" && !passing) error(f.message, props);
    else if (f.level !== "note") warning(f.message, props);
    else notice(f.message, props);
  }
}
async function scanShard(settings, session) {
  const { report, reportPath } = session;
  const { index, count } = settings.shard;
  setOutput(Outputs.Verdict, report.verdict);
  setOutput(Outputs.ReportPath, reportPath);
  if (session.reportError) setFailed(`shard ${index}/${count}: the partial report was not written: ${describeError(session.reportError)}`);
  else if (report.verdict === "error") setFailed(`Backdoor Gate shard ${index}/${count} could not scan: ${report.error}`);
  else info(`shard ${index}/${count} scanned; partial report: ${reportPath} (the merge job gives the verdict)`);
  if (process.env.GITHUB_STEP_SUMMARY) {
    const ran = (report.shard?.classes ?? []).map((c) => `${c.method}: classes ${c.ran.join(", ")}`).join("; ");
    await summary.addRaw(
      `### Backdoor Gate: shard ${index}/${count} of ${settings.model}

${report.verdict === "error" ? `could not scan: ${report.error}` : `${ran || "scanned"}; ${report.timings.totalSeconds ?? "?"} s. The merge job gives the verdict.`}
`
    ).write().catch((err) => warning(`job summary not written: ${describeError(err)}`));
  }
}
function bundledCli() {
  const entry = path2.resolve(process.argv[1] ?? "");
  const script = path2.join(path2.dirname(entry), "cli.js");
  return path2.basename(entry) === "index.js" && existsSync(script) ? { script, execArgv: [] } : void 0;
}
async function run() {
  let reporter;
  try {
    const settings = buildSettings(actionInput);
    if (settings.github.token) setSecret(settings.github.token);
    const github = await openGitHub(settings.github.token, settings.github.prNumber);
    const { ctx, octokit, artifacts } = github;
    if (!octokit)
      notice(`No GitHub token or repository in this run: the check run, PR comment and uploads are skipped; the job summary and log carry the verdict.`);
    const nativeDirs = [];
    if (settings.installNativeBackend && !settings.merge) {
      const native = await ensureNativeBackend(tool_cache_exports, actionsLogger, void 0, settings.installNativeBackend);
      if ("dir" in native) nativeDirs.push(native.dir);
      else warning(`install-native-backend: ${native.error}; continuing without it`);
    }
    const anchorFiles = [ctx.workflowPath, actionInput(Inputs.Policy) || DEFAULT_POLICY_PATH];
    if (settings.shard) return await scanShard(settings, await runScanSession(settings, github, actionsLogger, { nativeDirs, anchorFiles }));
    reporter = new GitHubReporter({ ctx, settings: settings.github, octokit, artifacts, logger: actionsLogger });
    await reporter.begin();
    const session = settings.merge ? await group("Backdoor Gate: merge the shards", async () => runMergeSession(settings, github, actionsLogger, { anchorFiles })) : await group("Backdoor Gate: fetch and scan", () => {
      const cli = bundledCli();
      const shards = cli && { command: cli, flags: [...shardFlags(actionInput), ...isDebug() ? ["--verbose"] : []] };
      return runWholeScanSession(settings, github, actionsLogger, { nativeDirs, anchorFiles, shards });
    });
    const { report, reportPath, anchor, locator } = session;
    setOutput(Outputs.Verdict, report.verdict);
    setOutput(Outputs.Score, report.score === null ? "" : String(report.score));
    if (session.reportError) warning(`JSON report not written: ${describeError(session.reportError)}`);
    setOutput(Outputs.ReportPath, reportPath);
    if (session.sarifError) warning(`SARIF not written: ${session.sarifError}`);
    if (session.sarifPath) setOutput(Outputs.SarifPath, session.sarifPath);
    let cleaned = { passes: false };
    const flaggedOrForced = isFlagged(report.verdict) || settings.clean?.force === true && (report.verdict === "clean" || report.verdict === "unassessed");
    if (settings.clean && flaggedOrForced) {
      const flagged = isFlagged(report.verdict) ? { verdict: report.verdict, target: report.suspectedTarget ?? null } : void 0;
      cleaned = await group(
        "Backdoor Gate: clean and re-scan",
        () => cleanFlagged(report.model.origin?.location ?? settings.model, settings, flagged, report.verdict)
      );
      if (cleaned.passes && settings.github.publish) await publishCleaned(settings, cleaned.report, locator?.resolved(), { ctx, octokit, artifacts });
    }
    const written = report.artifacts && "dir" in report.artifacts ? report.artifacts : void 0;
    const links = {
      reportPath: reportPath || void 0,
      runUrl: runUrl(ctx),
      ...await reporter.uploadImages(written?.dir, written?.files.map((f) => path2.join(written.dir, f)) ?? [])
    };
    if (process.env.GITHUB_STEP_SUMMARY) {
      try {
        await summary.addRaw(renderMarkdown(report, { mermaid: true, links, clean: cleaned.report, title: settings.github.checkName }, 256 * 1024)).write();
      } catch (err) {
        warning(`job summary not written: ${describeError(err)}`);
      }
    }
    const onError = onErrorFor(report, settings.onError);
    const { checkRunUrl } = await reporter.finish(report, anchor, {
      failOn: settings.failOn,
      onError,
      links,
      clean: cleaned.report,
      cleanedPasses: cleaned.passes
    });
    if (checkRunUrl) setOutput(Outputs.CheckRunUrl, checkRunUrl);
    if (!checkRunUrl) logAnnotations(report, anchor, cleaned.passes);
    info(`verdict: ${report.verdict}; report: ${reportPath}`);
    const conclusion = checkConclusion(report, settings.failOn, onError);
    if (conclusion === "success" || cleaned.passes) return;
    const message = `Backdoor Gate: ${report.verdict} \u2014 ${report.reasons.join("; ")}`;
    const props = { title: `Backdoor Gate: ${report.verdict}`, ...anchor && !checkRunUrl ? { file: anchor.path, startLine: anchor.line } : {} };
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
exitOnEscapedError((message) => setFailed(`Backdoor Gate crashed: ${message}`), ExitCode.Failure);
await run();
