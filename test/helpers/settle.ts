// The scans and cleaners yield to the event loop between batches (forEachBatch) or epochs, but a
// single step, a model load or an accuracy pass still holds it for seconds. Vitest's worker reports
// progress to the main process over RPC (task updates, throttled to one per 100 ms, each answered
// within 60 s or the run ends with an unhandled "Timeout calling onTaskUpdate", though every test
// passed). An update sent during the awaits just before a long synchronous block cannot be
// answered until the block ends. Waiting a few hundred milliseconds first lets any pending update
// go out and its answer come back.
export const settleVitestRpc = () => new Promise<void>((resolve) => setTimeout(resolve, 300));
