// `npm run extract-models`: unpacks the three real pretrained models the `nsfwjs` package ships
// as JS modules (model.min.js exports the model JSON, each shard module a base64 string) into
// plain model.json + weight files under .cache/models/nsfwjs/<name>/, with a gate.json.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { extractNsfwjsModels, NSFWJS_MODELS } from '../test/helpers/nsfwjs.js';

const dirs = extractNsfwjsModels();
for (const name of NSFWJS_MODELS) console.log(`${name}: ${dirs[name]}${existsSync(dirs[name]) ? '' : ' (missing!)'}`);
if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = 0;
