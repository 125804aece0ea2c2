// ONNX models through the CLI bundle, end to end: the PyTorch BadNets export is flagged with its
// true target and the clean ViT passes. Cleaning the export (a new model.onnx, measured with the
// real patch, run by onnxruntime) is in test/quality/cleaning.test.ts.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { PROBE, REPO, runCli } from '../helpers/run.js';

const FIXTURES = path.join(REPO, 'test/fixtures/onnx');
const BADNETS = path.join(FIXTURES, 'cnn-badnets-mnist');
const facts = JSON.parse(readFileSync(path.join(BADNETS, 'fixture.json'), 'utf8')) as { attack: { target: number } };
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bg-onnx-cli-'));

beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
});

describe('backdoor-gate on ONNX models', () => {
  it('flags the PyTorch BadNets export as backdoored, naming its true target', async () => {
    const report = path.join(tmp(), 'report.json');
    const r = await runCli(['scan', BADNETS, '--data', PROBE, '--backend', 'wasm', '--report', report]);
    expect(r.code, r.stderr).toBe(1);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    expect(json.model.format).toBe('onnx');
    expect(json.verdict).toBe('backdoored');
    expect(json.suspectedTarget).toBe(facts.attack.target);
  });

  it('does not flag the clean PyTorch ViT, and says why when it cannot pass it', async () => {
    const report = path.join(tmp(), 'report.json');
    const r = await runCli(['scan', path.join(FIXTURES, 'vit-mnist', 'model.onnx'), '--data', PROBE, '--backend', 'wasm', '--report', report]);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    // The model is clean: never flagged. Its skip connections make it a residual network, on which
    // a typical backdoor could not stand out (its classes' own ℓ∞ triggers win too often, or the
    // residual networks' spread floor bounds the statistic), so `unassessed` (exit 2, with the
    // reasons) is allowed.
    expect(['clean', 'unassessed']).toContain(json.verdict);
    expect(r.code, r.stderr).toBe(json.verdict === 'clean' ? 0 : 2);
    if (json.verdict === 'unassessed') expect(json.unassessed.join('\n')).toMatch(/trigger inversion (had no power|cannot flag a typical backdoor)/);
  });
});
