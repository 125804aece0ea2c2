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
}

export const DEFAULT_LIMITS: ResourceLimits = {
  maxModelJsonBytes: 32 * 1024 * 1024,
  maxWeightBytes: 2 * 1024 * 1024 * 1024,
  maxTensorElements: 256 * 1024 * 1024,
  maxJsonDepth: 200,
};
