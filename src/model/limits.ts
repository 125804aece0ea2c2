// Caps checked before anything is allocated: a hostile manifest cannot make the gate allocate
// or download without bound. Overridable per run (settings / CLI flags).
export interface ResourceLimits {
  /** Largest model.json accepted, bytes. */
  maxModelJsonBytes: number;
  /** Largest total of weight shards, bytes (also the download cap for URL models). */
  maxWeightBytes: number;
  /** Largest element count of any one declared tensor. */
  maxTensorElements: number;
  /** Deepest JSON nesting accepted in model.json. */
  maxJsonDepth: number;
  /** Largest download (release asset, artifact, bundle URL), bytes; checked before and while downloading. */
  maxDownloadBytes: number;
  /** Most entries an archive may hold. */
  maxArchiveEntries: number;
}

export const DEFAULT_LIMITS: ResourceLimits = {
  maxModelJsonBytes: 32 * 1024 * 1024,
  maxWeightBytes: 2 * 1024 * 1024 * 1024,
  maxTensorElements: 256 * 1024 * 1024,
  maxJsonDepth: 200,
  maxDownloadBytes: 2 * 1024 * 1024 * 1024,
  maxArchiveEntries: 10_000,
};

/** What an unpacked bundle may expand to: a model's manifest plus its weights. */
export const unpackedLimit = (limits: ResourceLimits) => ({ maxEntries: limits.maxArchiveEntries, maxBytes: limits.maxWeightBytes + limits.maxModelJsonBytes });
