/**
 * Masking: what the agent must not see is replaced by one recognisable marker, in objects, Tables,
 * watch streams and logs; and a write that carries the marker back is refused.
 */
export { MASK_MARKER, MASK_MARKER_BASE64, containsMarker } from './marker.ts';
export { SECRET_PATTERNS, PATTERN_IDS, compilePatterns } from './patterns.ts';
export type { PatternId, ExtraPattern, MaskedText, PatternScanner, SecretPatternDefinition } from './patterns.ts';
export { createMasker, MaskingError } from './mask.ts';
export type { Masker, MaskContext, MaskedObject } from './mask.ts';
export { defaultMaskingRules, MaskingRulesError, validateMaskingRules } from './rules.ts';
export type { MaskingRules, SecretResource } from './rules.ts';
export { WatchMaskingStream, LogMaskingStream, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_LOG_LINE_BYTES } from './stream.ts';
export type { WatchMaskingOptions, LogMaskingOptions } from './stream.ts';
export { checkWriteBack } from './writeback.ts';
export type { WriteBackRefusal } from './writeback.ts';
