import { test } from "node:test";
import assert from "node:assert/strict";

import { ConfigError } from "../errors.ts";
import { trainBpe } from "./train.ts";
import { CHATML_TEMPLATE, chatPromptIds, chatTemplateOf, hasChatTemplate, type ChatMessage } from "./chat.ts";
import { Tokenizer } from "./tokenizer.ts";

const text = "You are helpful. Hello there, how are you? I am fine, thanks for asking. Tell me a joke about tokenizers.";

test("applyChatTemplate: ChatML rendering, ids equal plain encoding, assistant-only mask", async () => {
  const tok = await trainBpe(new Set([text, `${text} again`, `${text} more`]), { vocabSize: 320 }); // arrays are paths; any other iterable is texts
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

test("chatTemplateOf: one rule for chat, serve, finetune and the assistant (override, own template, ChatML by its tokens, else none)", async () => {
  const tok = await trainBpe(new Set([text, `${text} again`]), { vocabSize: 300 });
  const own = tok.spec.config.chat_template as string;
  assert.equal(chatTemplateOf(tok), own);
  assert.equal(chatTemplateOf(tok, "{{ x }}"), "{{ x }}");
  const noTemplate = new Tokenizer({ ...tok.spec, config: { ...tok.spec.config, chat_template: undefined } });
  assert.equal(chatTemplateOf(noTemplate), CHATML_TEMPLATE, "ChatML tokens without a template: ChatML");
  assert.equal(hasChatTemplate(noTemplate), true);
  const optedOut = new Tokenizer({ ...tok.spec, config: { ...tok.spec.config, chat_template: "" } });
  assert.equal(chatTemplateOf(optedOut), null, "an empty chat_template means plain turns, ChatML tokens or not");
  const plain = new Tokenizer({
    ...tok.spec,
    config: { ...tok.spec.config, chat_template: undefined },
    addedTokens: tok.spec.addedTokens.filter((t) => !t.content.startsWith("<|im_")),
  });
  assert.equal(chatTemplateOf(plain), null);
  assert.equal(hasChatTemplate(plain), false);
  // The prompt for a ChatML-by-tokens tokenizer is ChatML, as fine-tuning renders it.
  const ids = chatPromptIds(noTemplate, [{ role: "user", content: "hi" }]);
  assert.ok(noTemplate.decode(ids).endsWith("<|im_start|>assistant\n"));
});
