import { test } from "node:test";
import assert from "node:assert/strict";

import { ConfigError } from "../errors.ts";
import { trainBpe } from "./train.ts";
import type { ChatMessage } from "./chat.ts";

const text = "You are helpful. Hello there, how are you? I am fine, thanks for asking. Tell me a joke about tokenizers.";

test("applyChatTemplate: ChatML rendering, ids equal plain encoding, assistant-only mask", async () => {
  const tok = await trainBpe(new Set([text, text + " again", text + " more"]), { vocabSize: 320 }); // arrays are paths; any other iterable is texts
  const messages: ChatMessage[] = [
    { role: "system", content: "You are helpful." },
    { role: "user", content: "Hello there, how are you?" },
    { role: "assistant", content: "I am fine, thanks for asking." },
    { role: "user", content: "Tell me a joke." },
    { role: "assistant", content: "Why did the tokenizer split? 😀" },
  ];
  const r = tok.applyChatTemplate(messages);
  assert.ok(r.text.startsWith("<|im_start|>system\nYou are helpful.<|im_end|>\n"));
  assert.deepEqual(r.ids, tok.encode(r.text));
  assert.equal(r.assistantMask.length, r.ids.length);
  // The masked tokens decode to exactly the assistant contents, each followed by <|im_end|>.
  const maskedIds = r.ids.filter((_, i) => r.assistantMask[i] === 1);
  assert.equal(tok.decode(maskedIds), "I am fine, thanks for asking.<|im_end|>Why did the tokenizer split? 😀<|im_end|>");
  const gen = tok.applyChatTemplate(messages.slice(0, 2), { addGenerationPrompt: true });
  assert.ok(gen.text.endsWith("<|im_start|>assistant\n"));
  assert.ok(gen.assistantMask.every((m) => m === 0));
  assert.throws(() => tok.applyChatTemplate(messages, { template: "" }), ConfigError);
});
