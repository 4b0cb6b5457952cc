// Public API of the tokenizer module (re-exports only).
export { Tokenizer, CHUNK_CACHE_CAP } from "./tokenizer.ts";
export type { AddedToken, DecodeOptions, EncodeOptions, StreamDecoder, TokenizerConfig, TokenizerSpec } from "./tokenizer.ts";
export { trainBpe, listInputFiles, DEFAULT_SPECIAL_TOKENS } from "./train.ts";
export type { TrainOptions, TrainProgress } from "./train.ts";
export { CHATML_TEMPLATE, PLAIN_CHAT_STOPS, chatPromptIds, chatTemplateOf, hasChatTemplate, renderChat, templateRendersTools, toolCallFormat } from "./chat.ts";
export type { ChatEncoding, ChatMessage, ChatTemplateOptions } from "./chat.ts";
export { PATTERNS } from "./pretokenize.ts";
export type { PatternName } from "./pretokenize.ts";
export { TextStopper } from "./text-stop.ts";
