// Writes the JSON report without clobbering files the user owns.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeError, InputError } from '../errors.js';
import { TOOL_NAME } from '../version.js';
import { writeArtifacts } from './artifacts.js';
import type { RenderedImage } from './images.js';
import type { SourceAnchor } from './check.js';
import { renderSarif, SARIF_OWN_MARKER } from './sarif.js';
import type { GateReport } from './types.js';

/** True when `file` holds a report this tool wrote (safe to replace). */
function isOwnReport(file: string): boolean {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { tool?: { name?: string } }).tool?.name === TOOL_NAME;
  } catch {
    return false;
  }
}

/** Any report this tool writes: it names the tool, which is how it is recognised later. */
type OwnReport = object & { tool: { name: string; version: string } };

export function renderJsonReport(report: OwnReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

export function writeJsonReport(file: string, report: OwnReport): string {
  const target = path.resolve(file);
  if (existsSync(target) && !isOwnReport(target)) {
    throw new InputError(file, 'exists and is not a backdoor-gate report; refusing to overwrite it (choose another --report path)');
  }
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, renderJsonReport(report));
  return target;
}

/**
 * Writes a text report (SARIF, Markdown); an existing file is replaced only if it holds
 * `ownMarker`, i.e. an earlier run of this tool wrote it. Returns the absolute path.
 */
export function writeTextFile(file: string, text: string, ownMarker: string): string {
  const target = path.resolve(file);
  if (existsSync(target) && !readFileSync(target, 'utf8').includes(ownMarker)) {
    throw new InputError(file, 'exists and was not written by backdoor-gate; refusing to overwrite it (choose another path)');
  }
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, text);
  return target;
}

/** Writes the SARIF file for `report` (replacing only an earlier one of ours); returns its absolute path. */
export function writeSarifReport(file: string, report: GateReport, anchor: SourceAnchor | undefined, category?: string): string {
  return writeTextFile(file, `${JSON.stringify(renderSarif(report, anchor, category), null, 2)}\n`, SARIF_OWN_MARKER);
}

/**
 * Writes the scan images (a failure there is recorded, never fatal: the verdict must not be lost
 * to a report problem) and then the JSON report; returns the report's absolute path.
 */
export function writeReportFiles(report: GateReport, images: RenderedImage[], reportPath: string, artifactsDir: string): string {
  if (images.length) {
    try {
      report.artifacts = writeArtifacts(artifactsDir, images);
    } catch (err) {
      report.artifacts = { error: describeError(err) };
    }
  }
  return writeJsonReport(reportPath, report);
}
