// `slm chat`: an interactive conversation with a model on stdin/stdout. Each
// input line is a user turn; the reply streams as it is generated. Uses the
// tokenizer's chat template when it has one, else plain "User: …\nAssistant:"
// turns. Keeps the history within the model's context by dropping the oldest
// turns. Works on piped input (one turn per line, replies one per line), so it
// can be scripted and tested. Thin: generation is src/infer/generate.ts.
import { createInterface } from "node:readline";

import { UsageError } from "../errors.ts";
import { loadAdapter } from "../formats/peft.ts";
import { loadModel, stopTokenIds } from "../formats/hf-dir.ts";
import { generate } from "../infer/generate.ts";
import { PLAIN_CHAT_STOPS, chatPromptIds, hasChatTemplate, type ChatMessage } from "../tokenizer/index.ts";
import { parse, type Command, type CommandContext } from "./command.ts";
import { SAMPLING_FLAGS, SAMPLING_HELP, samplingFromFlags } from "./sampling-flags.ts";
import { inferenceLoadOptions, kvDtypeFlag, MODEL_LOAD_FLAGS, MODEL_LOAD_HELP } from "./model-flags.ts";
import { TextStopper } from "../tokenizer/text-stop.ts";

export const chatCommand: Command = {
  name: "chat",
  summary: "chat with a model in the terminal (or over piped lines)",
  help: `Usage: slm chat --model DIR [--system TEXT] [options]

Reads one user message per line from stdin and streams the model's reply.
Uses the tokenizer's chat template when it has one (tokenizer_config.json
chat_template; ChatML when it has none but has <|im_start|>/<|im_end|>, as
fine-tuning renders it), else plain "User: …" / "Assistant: …" turns. When the
conversation outgrows the model's context, the oldest turns are dropped.
Commands: /reset (forget the conversation), /exit (or end of input).
Ctrl-C stops a reply; at the prompt it exits.

Options:
  --model PATH            model directory or .gguf file with a tokenizer
${MODEL_LOAD_HELP}
  --adapter DIR           a LoRA adapter (PEFT directory) applied on top, unmerged
  --system TEXT           system message, kept through /reset and context trimming
${SAMPLING_HELP}

Examples:
  slm chat --model out/run1/model --system "You answer briefly."
  printf 'hello\\nwhat is a handbook?\\n' | slm chat --model out/run1/model --temperature 0`,
  async run(argv: string[], ctx: CommandContext): Promise<number> {
    const { values } = parse(
      argv,
      { model: { type: "string" }, adapter: { type: "string" }, system: { type: "string" }, ...SAMPLING_FLAGS, ...MODEL_LOAD_FLAGS },
      false,
    );
    if (!values.model) throw new UsageError("--model is required (a model directory with a tokenizer)");
    samplingFromFlags(values, {});
    const kvDtype = kvDtypeFlag(values);
    const loaded = loadModel(values.model, inferenceLoadOptions(values));
    if (values.adapter !== undefined) loadAdapter(values.adapter, loaded.model);
    if (!loaded.tokenizer) throw new UsageError(`${values.model} has no tokenizer; slm chat needs text (try slm generate --prompt-ids)`);
    const tok = loaded.tokenizer;
    const { sampling, maxTokens, seed } = samplingFromFlags(values, loaded.generation);
    const useTemplate = hasChatTemplate(tok);
    const stopIds = stopTokenIds(loaded, true);
    const textStops = useTemplate ? [] : PLAIN_CHAT_STOPS;
    const context = loaded.config.maxSeqLen;
    const reserve = Math.min(maxTokens, Math.floor(context / 2)); // room kept for the reply when trimming history
    const system: ChatMessage[] = values.system ? [{ role: "system", content: values.system }] : [];
    let history: ChatMessage[] = [];

    const write = ctx.write ?? ((s: string) => void process.stdout.write(s));
    const input = ctx.input ?? process.stdin;
    const tty = ctx.inputTty ?? false;
    const rl = createInterface({ input, output: tty ? process.stdout : undefined, terminal: tty });
    let current: AbortController | null = null;
    rl.on("SIGINT", () => (current ? current.abort() : rl.close()));
    if (tty) {
      ctx.err(`chatting with ${values.model} (${useTemplate ? "chat template" : "plain turns"}, context ${context} tokens). /reset, /exit`);
      rl.setPrompt("> ");
      rl.prompt();
    }
    let turn = 0;
    try {
      for await (const raw of rl) {
        const line = raw.trim();
        if (line === "/exit" || line === "/quit") break;
        if (line === "/reset") {
          history = [];
          ctx.err("(conversation cleared)");
        } else if (line.length > 0) {
          const user: ChatMessage = { role: "user", content: line };
          let ids = chatPromptIds(tok, [...system, ...history, user], useTemplate);
          while (ids.length + reserve > context && history.length > 0) {
            history.splice(0, 2); // the oldest user turn and its reply
            ids = chatPromptIds(tok, [...system, ...history, user], useTemplate);
          }
          if (ids.length >= context) {
            ctx.err(`(message too long: ${ids.length} tokens with the system message; the context is ${context})`);
          } else {
            const dec = tok.createStreamDecoder({ skipSpecialTokens: true });
            const stopper = new TextStopper(textStops);
            current = new AbortController();
            let first = true;
            const show = (s: string) => {
              if (first) s = s.replace(/^\s+/, ""); // the reply starts at its first visible character
              if (s.length > 0) first = false;
              write(s);
            };
            await generate(loaded.model, [ids], {
              maxTokens,
              sampling,
              seed: seed + turn,
              stopTokenIds: stopIds,
              signal: current.signal,
              kvDtype,
              onToken: (_s, id) => {
                show(stopper.push(dec.push(id)));
                if (stopper.stopped) return false;
              },
            });
            if (!stopper.stopped) show(stopper.push(dec.flush()) + stopper.flush());
            write("\n");
            if (current.signal.aborted) ctx.err("(reply stopped)");
            current = null;
            history.push(user, { role: "assistant", content: stopper.text.trim() });
            turn++;
          }
        }
        if (tty) rl.prompt();
      }
    } finally {
      rl.close();
    }
    return 0;
  },
};
