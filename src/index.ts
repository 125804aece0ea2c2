// Action entry point: run(), and one failing line for an error that escapes it asynchronously.
import * as core from '@actions/core';
import { exitOnEscapedError } from './errors.js';
import { run } from './main.js';

exitOnEscapedError((message) => core.setFailed(`Backdoor Gate crashed: ${message}`), core.ExitCode.Failure);
await run();
