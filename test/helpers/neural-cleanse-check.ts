// Child-process run of the Neural Cleanse baseline (about a minute of synchronous work, which
// would block the test runner's worker): prints one JSON line.
//   node --import tsx test/helpers/neural-cleanse-check.ts <model dir> <probe data>
import { loadProbeImages } from '../../src/data/sources.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { neuralCleanse } from '../../src/scan/neural-cleanse.js';

const [dir, data] = process.argv.slice(2);
await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
const { model } = await loadModel(dir);
const probe = loadProbeImages(data, { shape: model.inputShape, maxImages: 128, seed: 0 });
const r = await neuralCleanse(model, probe);
console.log(JSON.stringify({ suspectedTarget: r.suspectedTarget, anomaly: r.anomaly, maskL1: r.maskL1 }));
