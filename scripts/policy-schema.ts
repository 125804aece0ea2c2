// `npm run schema`: writes the policy file's JSON Schema (from the zod schema the gate validates
// with) to schema/backdoor-gate.schema.json, for editors; test/core/policy.test.ts checks it is current.
import { writeFileSync } from 'node:fs';
import { policyJsonSchema } from '../src/core/policy.js';

writeFileSync('schema/backdoor-gate.schema.json', `${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
console.log('wrote schema/backdoor-gate.schema.json');
