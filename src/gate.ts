// The pipeline: load → probe data → model check → scans → verdict, as pure data. Any failure
// becomes verdict `error` (fail closed); nothing here knows about GitHub or the CLI.
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { loadProbeImages } from './data/sources.js';
import type { ImageSet } from './data/types.js';
import type { EngineInfo } from './engine/backend.js';
import { describeError } from './errors.js';
import type { Logger } from './logger.js';
import type { ModelUnderTest } from './model/adapter.js';
import { loadModel } from './model/load.js';
import type { GateReport, ModelCheck } from './report/types.js';
import type { Settings } from './settings.js';
import { TOOL_NAME, TOOL_VERSION } from './version.js';

const seconds = (t0: number) => Math.round((performance.now() - t0) / 10) / 100;

/** Forward pass and input gradients over the probe images, in batches. */
export function checkModel(model: ModelUnderTest, probe: ImageSet, batchSize = 32): ModelCheck {
  const counts = new Array<number>(model.numClasses).fill(0);
  let topProbability = 0;
  let gradientNorm = 0;
  const n = probe.height * probe.width * probe.channels;
  for (let s = 0; s < probe.count; s += batchSize) {
    const e = Math.min(probe.count, s + batchSize);
    tf.tidy(() => {
      const x = tf.tensor4d(probe.x.subarray(s * n, e * n), [e - s, probe.height, probe.width, probe.channels]);
      const topLogit = (input: tf.Tensor) => tf.sum(tf.max(model.logits(input as tf.Tensor4D), -1));
      const grad = tf.grad(topLogit)(x);
      const logits = model.logits(x);
      const probs = tf.softmax(logits);
      const top = tf.argMax(logits, -1).dataSync();
      for (const c of top) counts[c]++;
      topProbability += tf.sum(tf.max(probs, -1)).dataSync()[0];
      gradientNorm += tf.sum(tf.sqrt(tf.sum(tf.square(grad), [1, 2, 3]))).dataSync()[0];
    });
  }
  const check = { probeImages: probe.count, predictedClassCounts: counts, meanTopProbability: topProbability / probe.count, meanInputGradientNorm: gradientNorm / probe.count };
  if (!Number.isFinite(check.meanTopProbability) || !Number.isFinite(check.meanInputGradientNorm)) {
    throw new Error('the model produced non-finite outputs or input gradients on the probe images');
  }
  return check;
}

export async function runGate(settings: Readonly<Settings>, engine: EngineInfo, logger: Logger): Promise<GateReport> {
  const t0 = performance.now();
  const report: GateReport = {
    schemaVersion: 1,
    tool: { name: TOOL_NAME, version: TOOL_VERSION },
    verdict: 'error',
    score: null,
    reasons: [],
    seed: settings.seed,
    model: { spec: settings.model },
    engine,
    scans: [],
    timings: {},
    runtime: { node: process.version, platform: `${os.platform()}-${os.arch()}` },
  };
  let loaded: Awaited<ReturnType<typeof loadModel>> | undefined;
  try {
    let t = performance.now();
    loaded = await loadModel(settings.model, settings.limits);
    const { model, source, gate } = loaded;
    report.timings.loadSeconds = seconds(t);
    report.model = {
      spec: settings.model,
      format: source.format,
      digest: source.digest,
      files: source.files,
      inputShape: model.inputShape,
      numClasses: model.numClasses,
      endsInSoftmax: model.endsInSoftmax,
      input: { ...model.inputSpec, fromGateJson: gate.found },
    };
    logger.info(`model ${settings.model}: ${source.format}, input ${model.inputShape.join('×')}, ${model.numClasses} classes, ${source.digest}`);

    t = performance.now();
    const probe = loadProbeImages(settings.data, { shape: model.inputShape, maxImages: settings.maxProbeImages, seed: settings.seed });
    report.data = { source: probe.source, count: probe.count, shape: [probe.height, probe.width, probe.channels] };
    report.timings.dataSeconds = seconds(t);

    t = performance.now();
    report.modelCheck = checkModel(model, probe);
    report.timings.modelCheckSeconds = seconds(t);

    report.verdict = 'unassessed';
    report.reasons.push('no backdoor detector ran, so the model cannot be called clean');
  } catch (err) {
    report.verdict = 'error';
    report.error = describeError(err);
    report.reasons.push(`could not scan: ${report.error}`);
  } finally {
    loaded?.model.dispose();
    report.timings.totalSeconds = seconds(t0);
  }
  return report;
}
