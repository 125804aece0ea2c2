// The action: inputs → settings → backend → gate → outputs and reports. One try/catch: any
// failure marks the step failed (fail closed) unless `on-error: warn`.
import * as core from '@actions/core';
import * as toolCache from '@actions/tool-cache';
import { selectBackend } from './engine/backend.js';
import { ensureNativeBackend } from './engine/native.js';
import { describeError } from './errors.js';
import { runGate } from './gate.js';
import type { Logger } from './logger.js';
import { cleanSummary, runClean } from './clean/pipeline.js';
import { writeJsonReport, writeReportFiles } from './report/json.js';
import { outcomeFor, type GateReport } from './report/types.js';
import { buildSettings, Outputs, type CleanSettings } from './settings.js';

const actionsLogger: Logger = {
  info: (m) => core.info(m),
  notice: (m) => core.notice(m),
  warning: (m) => core.warning(m),
  error: (m) => core.error(m),
  debug: (m) => core.debug(m),
};

function summaryMarkdown(report: GateReport, reportPath: string): string {
  const rows = [
    ['verdict', `**${report.verdict}**`],
    ['score', report.score === null ? 'n/a' : report.score.toFixed(3)],
    ['model digest', `\`${report.model.digest ?? 'n/a'}\``],
    ['policy', report.policy ? `${report.policy.source}; fails on ${report.policy.failOn}` : 'n/a'],
    ['backend', report.engine ? `${report.engine.backend} (${report.engine.reason})` : 'n/a'],
    ['report', `\`${reportPath}\``],
  ];
  const esc = (s: string) => s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
  return [
    `## Backdoor Gate: ${esc(report.model.spec)}`,
    '',
    '| | |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${esc(v)} |`),
    '',
    ...report.reasons.map((r) => `- ${esc(r)}`),
    '',
  ].join('\n');
}

/**
 * Cleans a flagged model (the `clean` input) and says whether the cleaned copy's re-scan is
 * clean. A cleaning failure is a warning: the step then fails as the scan said (fail closed).
 */
async function cleanedModelPasses(model: string, clean: CleanSettings): Promise<boolean> {
  try {
    const report = await runClean({ model, data: clean.data, out: clean.out, method: clean.method, seed: 0 }, actionsLogger);
    writeJsonReport(clean.reportPath, report);
    if (!report.output) {
      core.warning(`clean: ${report.skipped ?? 'nothing written'}`);
      return false;
    }
    core.setOutput(Outputs.CleanedModelPath, report.output.dir);
    core.setOutput(Outputs.CleanedVerdict, report.verdictAfter ?? '');
    const summary = `${cleanSummary(report)}, re-scan ${report.verdictAfter}`;
    if (report.verdictAfter !== 'clean') {
      core.warning(`clean: the cleaned model is still ${report.verdictAfter} (${summary}); the input model fails the gate`);
      return false;
    }
    core.warning(`${model} is ${report.verdictBefore}; the cleaned model ${report.output.dir} (${report.output.digest}) passes the re-scan: ${summary}. Ship the cleaned model, not the input.`);
    return true;
  } catch (err) {
    core.warning(`clean: ${describeError(err)}; the input model fails the gate`);
    return false;
  }
}

export async function run(): Promise<void> {
  try {
    const settings = buildSettings((name) => core.getInput(name));
    const nativeDirs: string[] = [];
    if (settings.installNativeBackend) {
      const native = await ensureNativeBackend(toolCache, actionsLogger);
      if ('dir' in native) nativeDirs.push(native.dir);
      else core.warning(`install-native-backend: ${native.error}; continuing without it`);
    }
    const engine = await selectBackend({ choice: settings.backend, nativeDirs, logger: actionsLogger });
    const { report, images } = await runGate(settings, engine, actionsLogger);
    // The verdict is set before any report is written: a failing report must not lose it.
    core.setOutput(Outputs.Verdict, report.verdict);
    core.setOutput(Outputs.Score, report.score === null ? '' : String(report.score));
    let reportPath = '';
    try {
      reportPath = writeReportFiles(report, images, settings.reportPath, settings.artifactsDir);
      if (report.artifacts && 'error' in report.artifacts) core.warning(`scan images not written: ${report.artifacts.error}`);
    } catch (err) {
      core.warning(`JSON report not written: ${describeError(err)}`);
    }
    core.setOutput(Outputs.ReportPath, reportPath);
    if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(summaryMarkdown(report, reportPath || '(not written)')).write();
    core.info(`verdict: ${report.verdict}; report: ${reportPath}`);
    const outcome = outcomeFor(report.verdict, settings.failOn);
    if (outcome === 'pass') return;
    if (settings.clean && (report.verdict === 'suspicious' || report.verdict === 'backdoored') && (await cleanedModelPasses(settings.model, settings.clean))) return;
    const message = `Backdoor Gate: ${report.verdict} — ${report.reasons.join('; ')}`;
    if (outcome === 'warn' || (outcome === 'could-not-scan' && settings.onError === 'warn')) core.warning(message);
    else core.setFailed(message);
  } catch (err) {
    core.setOutput(Outputs.Verdict, 'error');
    core.setFailed(`Backdoor Gate could not run: ${describeError(err)}`);
  }
}
