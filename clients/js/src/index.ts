/** What both entry points (Node: `onnxplain`, browser: `onnxplain/browser`) export. */
export { Explainer, TASKS, answerSpanTarget, answerTargets, pad, type AnswerOptions, type ArtifactParts, type ExplainOptions, type HeadMask, type LoadOptions, type RunOptions, type RunOutputs, type Target } from "./explainer.js";
export { Explanation, type ExplanationJson, type Token, type Word } from "./results.js";
export { UserError, ArtifactError } from "./errors.js";
export { notRecommended, readManifest, READABLE_FORMAT_VERSIONS, type Manifest, type MethodRecord } from "./artifact.js";
export { renderJson, pythonJson, pythonFloat } from "./python-json.js";
export { utf16Offsets, type TextEncoding } from "./tokenization.js";
export { codePoints, sliceCodePoints, toUtf16Span, utf16Boundaries } from "./text-offsets.js";
export { heatColour, wordIntensities } from "./render/colours.js";
export { AnswerExplanation, type Pair, type PairEncoding } from "./question-answering.js";
