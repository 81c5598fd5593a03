// The compiler's public face: pure functions from cluster state to nftables batches.
export * from './model.js';
export { parseManifestText } from './manifests.js';
export { normalizePolicy, type Direction, type NormalizedPolicy } from './policy.js';
export { indexCluster, podView, matchingAllowances, type DirectionView, type Allowance } from './ir.js';
export { compile, engineFor, ctMarkMaskError, COMPILE_GENERATION, DEFAULT_TABLE, DEFAULT_CT_MARK_MASK, MIN_CT_MARK_BITS, type CompileOptions, type CompileResult, type LocalPod } from './ruleset.js';
export { PolicyEngine, generationStamp, type ClusterEvent, type EngineOptions, type Dirtied, type RuleCounter } from './graph/engine.js';
export type { RuleOrigin } from './graph/lower.js';
export { isOwnObject, NFT_COMMENT_MAX_BYTES, NFT_NAME_MAX_BYTES } from './nft/names.js';
export { fullBatch, deleteTableBatch, batchJson, batchText, rulesetText, type Batch, type ChainDef, type Ruleset } from './nft.js';
export { diffBatch, batchOperations } from './diff.js';
export { explain, explanationText, ExplainError, type Explanation } from './explain.js';
export { normalizeListing } from './listing.js';
export { buildMatrix, matrixOfIndex, MatrixError, type Matrix, type MatrixOptions, type MatrixEntity, type PortColumn, type GroupBy } from './matrix.js';
export { matrixText, matrixJson, cellExplanation, whatIf, whatIfText, whatIfJson, type WhatIf, type Change } from './matrix-output.js';
export { matrixHtml } from './matrix-html.js';
export { explainPair, type ExplainOptions } from './explain.js';
export { nodesFromObjects, parseNode, type NodeInfo } from './nodes.js';
export { parseCidrText } from './cidr.js';
