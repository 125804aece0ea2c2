// The cleaners and scans run synchronously for up to a minute or more. Vitest's worker reports
// progress to the main process over RPC (task updates, throttled to one per 100 ms, each answered
// within 60 s or the run ends with an unhandled "Timeout calling onTaskUpdate", though every test
// passed). An update sent during the awaits just before a long synchronous block cannot be
// answered until the block ends. Waiting a few hundred milliseconds first lets any pending update
// go out and its answer come back.
export const settleVitestRpc = () => new Promise<void>((resolve) => setTimeout(resolve, 300));
