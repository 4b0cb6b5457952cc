// The web UI's logic: loads the model card from GET /v1/models, sends the
// conversation to POST /v1/chat/completions with stream: true, reads the SSE
// stream with fetch + a reader (so Stop can abort it), and renders every piece
// of model text with textContent, never as HTML. Settings and the API key live
// in localStorage. A response that carries a `citations` array (issue 9:
// grounded answers) is shown as a list of source links, each opening the
// cited section's page. When /v1/models lists several models (the assistant
// of `slm serve --index` beside the model), a picker chooses one, the
// assistant first. Knows nothing about
// tokens or models beyond the API's JSON.

(() => {
  const $ = (id) => document.getElementById(id);
  const els = {
    transcript: $("transcript"),
    empty: $("empty"),
    error: $("error"),
    status: $("status"),
    composer: $("composer"),
    prompt: $("prompt"),
    send: $("send"),
    stop: $("stop"),
    clear: $("clear"),
    card: $("card"),
    modelName: $("model-name"),
    modelPicker: $("model"),
    modelPickerRow: $("model-picker-row"),
    system: $("system"),
    temperature: $("temperature"),
    topP: $("top_p"),
    maxTokens: $("max_tokens"),
    seed: $("seed"),
    apiKey: $("api-key"),
    temperatureOut: $("temperature-out"),
    topPOut: $("top_p-out"),
  };
  const KEY_STORE = "slm.apiKey";
  const SETTINGS_STORE = "slm.settings";
  const MODEL_STORE = "slm.model";

  /** @type {{role: string, content: string}[]} the conversation sent with each request */
  let history = [];
  let modelId = null;
  /** @type {any[]} the models of GET /v1/models, assistants first */
  let models = [];
  /** @type {AbortController | null} the running request, if any */
  let running = null;

  // ---- storage ---------------------------------------------------------------
  function store(key, value) {
    try {
      if (value === "" || value == null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch {
      /* private mode: settings just do not persist */
    }
  }
  function load(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  }

  function restoreSettings() {
    els.apiKey.value = load(KEY_STORE) ?? "";
    let s = {};
    try {
      s = JSON.parse(load(SETTINGS_STORE) ?? "{}") ?? {};
    } catch {
      s = {};
    }
    if (typeof s.system === "string") els.system.value = s.system;
    for (const [k, el] of [
      ["temperature", els.temperature],
      ["topP", els.topP],
      ["maxTokens", els.maxTokens],
      ["seed", els.seed],
    ]) {
      if (typeof s[k] === "string") el.value = s[k];
    }
    showRanges();
  }
  function saveSettings() {
    store(
      SETTINGS_STORE,
      JSON.stringify({
        system: els.system.value,
        temperature: els.temperature.value,
        topP: els.topP.value,
        maxTokens: els.maxTokens.value,
        seed: els.seed.value,
      }),
    );
  }
  function showRanges() {
    els.temperatureOut.textContent = Number(els.temperature.value).toFixed(2);
    els.topPOut.textContent = Number(els.topP.value).toFixed(2);
  }

  function headers(json) {
    const h = {};
    if (json) h["Content-Type"] = "application/json";
    const key = els.apiKey.value.trim();
    if (key) h.Authorization = `Bearer ${key}`;
    return h;
  }

  // ---- errors and status -----------------------------------------------------
  function showError(message) {
    els.error.textContent = message;
    els.error.hidden = false;
  }
  function clearError() {
    els.error.textContent = "";
    els.error.hidden = true;
  }
  function setStatus(s) {
    els.status.textContent = s;
  }

  /** A readable message for a non-2xx response (OpenAI error JSON when the server sent one). */
  async function describeHttpError(res) {
    let detail = "";
    try {
      const body = await res.json();
      detail = body?.error?.message ?? (typeof body?.message === "string" ? body.message : "");
    } catch {
      /* not JSON */
    }
    const status = `${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
    if (res.status === 401 || res.status === 403)
      return `The server refused the request (${status}): it needs a valid API key. Enter it under Settings.${detail ? `\n${detail}` : ""}`;
    if (res.status === 429) {
      const after = res.headers.get("Retry-After");
      return `The server is busy (${status}).${after ? ` Try again in ${after} s.` : " Try again shortly."}${detail ? `\n${detail}` : ""}`;
    }
    if (res.status >= 400 && res.status < 500) return `The request was rejected (${status}): ${detail || "no details"}`;
    return `The server failed (${status})${detail ? `: ${detail}` : ""}`;
  }

  // ---- model card ------------------------------------------------------------
  function formatCount(n) {
    if (typeof n !== "number" || !Number.isFinite(n)) return "?";
    if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
    if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
    if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
    return String(n);
  }
  function formatBytes(n) {
    if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
    if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
    return `${(n / 1e3).toFixed(1)} kB`;
  }
  function renderCard(model) {
    const c = model.slm ?? {};
    const rows = [
      ["Model", model.id],
      ["Architecture", c.modelType ?? "?"],
      ["Parameters", formatCount(c.parameters)],
      [
        "Quantization",
        c.quantization === undefined ? "?" : c.weightBytes !== undefined ? `${c.quantization} (${formatBytes(c.weightBytes)} in memory)` : c.quantization,
      ],
      ["Context length", c.contextLength !== undefined ? `${c.contextLength} tokens` : "?"],
      ["Vocabulary", c.vocabSize !== undefined ? `${c.vocabSize} tokens` : "?"],
      ["Layers × width", c.layers !== undefined ? `${c.layers} × ${c.dModel}` : "?"],
      ["Heads (KV)", c.heads !== undefined ? `${c.heads} (${c.kvHeads})` : "?"],
      ["Prompt format", c.chatTemplate === undefined ? "?" : c.chatTemplate ? "chat template" : "plain turns"],
    ];
    const a = c.assistant;
    if (a) {
      rows.unshift(["Answers from", `${a.sections ?? "?"} sections of ${a.documents ?? "?"} documents`]);
      const writer =
        a.answerer === "extractive"
          ? "extracts (best sentence, no model)"
          : a.answerer === "reader"
            ? "a trained reader picks a sentence"
            : "the model, from the retrieved sections";
      rows.splice(1, 0, ["Answer writer", a.answerer_reason ? `${writer} — ${a.answerer_reason}` : writer]);
    }
    els.card.replaceChildren();
    for (const [k, v] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = String(v);
      els.card.append(dt, dd);
    }
    els.card.dataset.loaded = "true";
    els.modelName.textContent = a
      ? `${model.id}: answers from the documents, citing its sources`
      : `${model.id}: ${c.modelType ?? "model"}, ${formatCount(c.parameters)} parameters`;
    if (c.contextLength > 1) {
      // The server refuses max_tokens >= the context (the prompt needs room too).
      els.maxTokens.max = String(c.contextLength - 1);
      if (Number(els.maxTokens.value) >= c.contextLength) els.maxTokens.value = String(Math.floor(c.contextLength / 2));
    }
  }

  async function loadModel() {
    try {
      const res = await fetch("/v1/models", { headers: headers(false) });
      if (!res.ok) {
        showError(await describeHttpError(res));
        els.modelName.textContent = "model unavailable";
        return;
      }
      const body = await res.json();
      const list = Array.isArray(body?.data) ? body.data.filter((m) => m && typeof m.id === "string") : [];
      if (list.length === 0) {
        showError("The server lists no model.");
        return;
      }
      // Assistants (grounded answers with citations) first; otherwise the server's order.
      models = [...list.filter((m) => m.slm?.assistant), ...list.filter((m) => !m.slm?.assistant)];
      const saved = load(MODEL_STORE);
      const model = models.find((m) => m.id === saved) ?? models[0];
      els.modelPicker.replaceChildren();
      for (const m of models) {
        const opt = document.createElement("option");
        opt.value = m.id;
        opt.textContent = m.slm?.assistant ? `${m.id} (answers from documents)` : m.id;
        els.modelPicker.append(opt);
      }
      els.modelPicker.value = model.id;
      els.modelPickerRow.hidden = models.length < 2;
      selectModel(model);
      clearError();
    } catch (e) {
      showError(`Could not reach the server: ${e?.message ?? e}`);
    }
  }

  function selectModel(model) {
    modelId = model.id;
    renderCard(model);
    els.empty.textContent = model.slm?.assistant
      ? "Ask a question about the documents. The answer cites its sources as [1], [2]; each source links to the section it came from."
      : "Send a message to start. The model continues your text in the style of what it was trained on.";
  }

  // ---- transcript ------------------------------------------------------------
  function addMessage(role, text) {
    els.empty.hidden = true;
    const li = document.createElement("li");
    li.className = `msg ${role}`;
    const who = document.createElement("div");
    who.className = "role";
    who.textContent = role === "user" ? "You" : "Model";
    const body = document.createElement("p");
    body.className = "text";
    body.textContent = text;
    const meta = document.createElement("div");
    meta.className = "meta";
    li.append(who, body, meta);
    els.transcript.append(li);
    li.scrollIntoView({ block: "end" });
    return { li, body, meta };
  }

  /** Only http(s) and same-origin links become clickable; anything else is shown as text. */
  function safeHref(url) {
    if (typeof url !== "string" || url === "") return null;
    try {
      const u = new URL(url, location.href);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch {
      return null;
    }
  }

  /** What each answer method is called in the UI. */
  const METHOD_LABELS = {
    extractive: "an extract from the documents (no model wrote this)",
    reader: "a sentence from the documents, picked by the trained reader",
    model: "the model, writing from the retrieved sections",
    not_found: "nobody: no section matched the question",
  };

  /** Which method answered an assistant question ({method, reason}), shown under the answer. */
  function renderMethod(container, by) {
    if (!by || typeof by.method !== "string") return;
    container.querySelector(".method")?.remove();
    const p = document.createElement("p");
    p.className = "method muted";
    p.dataset.method = by.method;
    p.textContent = `Answered by ${METHOD_LABELS[by.method] ?? by.method}`;
    if (typeof by.reason === "string" && by.reason) p.title = by.reason;
    container.append(p);
  }

  /**
   * Sources of a grounded answer: [{title?, url?, source?, path?, heading?, snippet?}, …] or strings.
   * Rendered as an ordered list so "[1]" in the text matches item 1.
   */
  function renderCitations(container, citations) {
    if (!Array.isArray(citations) || citations.length === 0) return;
    container.querySelector(".citations")?.remove();
    const ol = document.createElement("ol");
    ol.className = "citations";
    ol.setAttribute("aria-label", "Sources");
    for (const c of citations) {
      const li = document.createElement("li");
      const cite = typeof c === "string" ? { title: c } : (c ?? {});
      // Keep the list number equal to the [n] the answer uses (an answer may cite [2] alone).
      if (Number.isInteger(cite.n) && cite.n > 0) li.value = cite.n;
      const label = String(cite.title ?? cite.heading ?? cite.path ?? cite.source ?? cite.url ?? "source");
      const href = safeHref(cite.url);
      if (href) {
        const a = document.createElement("a");
        a.href = href;
        a.textContent = label;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        li.append(a);
      } else li.append(document.createTextNode(label));
      if (typeof cite.snippet === "string" && cite.snippet) {
        const q = document.createElement("span");
        q.className = "muted";
        q.textContent = ` — ${cite.snippet}`;
        li.append(q);
      }
      ol.append(li);
    }
    container.append(ol);
  }

  // ---- SSE -------------------------------------------------------------------
  /**
   * Splits a byte stream into SSE events and yields the data of each event
   * (several data: lines are joined with "\n"). Comments and other fields are ignored.
   */
  async function* sseData(reader) {
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = event
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).replace(/^ /, ""));
        if (data.length > 0) yield data.join("\n");
      }
    }
    const tail = buf.trim();
    if (tail.startsWith("data:")) yield tail.slice(5).trim();
  }

  // ---- sending ---------------------------------------------------------------
  function setRunning(on) {
    els.send.disabled = on;
    els.stop.disabled = !on;
    els.composer.setAttribute("aria-busy", on ? "true" : "false");
  }

  function requestBody() {
    const messages = [];
    const system = els.system.value.trim();
    if (system) messages.push({ role: "system", content: system });
    messages.push(...history);
    const body = {
      model: modelId ?? undefined,
      messages,
      stream: true,
      stream_options: { include_usage: true },
      temperature: Number(els.temperature.value),
      top_p: Number(els.topP.value),
    };
    const maxTokens = Number.parseInt(els.maxTokens.value, 10);
    if (Number.isInteger(maxTokens) && maxTokens > 0) body.max_tokens = maxTokens;
    const seed = els.seed.value.trim();
    if (seed !== "" && Number.isInteger(Number(seed))) body.seed = Number(seed);
    return body;
  }

  async function send(text) {
    if (running) return;
    clearError();
    history.push({ role: "user", content: text });
    addMessage("user", text);
    const reply = addMessage("assistant", "");
    reply.li.classList.add("streaming");
    reply.li.setAttribute("aria-busy", "true");
    const ac = new AbortController();
    running = ac;
    setRunning(true);
    setStatus("Waiting for the model…");
    const t0 = performance.now();
    let content = "";
    let finish = null;
    let usage = null;
    let outcome = "done";
    try {
      const res = await fetch("/v1/chat/completions", {
        method: "POST",
        headers: headers(true),
        body: JSON.stringify(requestBody()),
        signal: ac.signal,
      });
      if (!res.ok) {
        outcome = "error";
        showError(await describeHttpError(res));
        return;
      }
      const reader = res.body.getReader();
      for await (const data of sseData(reader)) {
        if (data === "[DONE]") break;
        let chunk;
        try {
          chunk = JSON.parse(data);
        } catch {
          continue;
        }
        if (chunk.error) {
          outcome = "error";
          showError(`The model failed while answering: ${chunk.error.message ?? JSON.stringify(chunk.error)}`);
          break;
        }
        const choice = chunk.choices?.[0];
        const delta = choice?.delta?.content;
        if (typeof delta === "string" && delta.length > 0) {
          content += delta;
          reply.body.textContent = content;
          setStatus(`Streaming… ${content.length} characters`);
        }
        if (choice?.finish_reason) finish = choice.finish_reason;
        if (chunk.usage) usage = chunk.usage;
        if (chunk.citations) renderCitations(reply.li, chunk.citations);
        if (chunk.answered_by) renderMethod(reply.li, chunk.answered_by);
      }
    } catch (e) {
      if (ac.signal.aborted) outcome = "stopped";
      else {
        outcome = "error";
        showError(`Could not reach the server: ${e?.message ?? e}`);
      }
    } finally {
      running = null;
      setRunning(false);
      reply.li.classList.remove("streaming");
      reply.li.removeAttribute("aria-busy");
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      reply.li.dataset.state = outcome;
      if (content) history.push({ role: "assistant", content });
      else if (outcome !== "done") history.pop(); // nothing came back: forget the question too, so a retry sends it once
      const parts = [];
      if (outcome === "stopped") parts.push("stopped");
      else if (outcome === "error") parts.push("failed");
      else if (finish) parts.push(finish === "length" ? "stopped at the token limit" : `finished (${finish})`);
      if (usage?.completion_tokens !== undefined) parts.push(`${usage.completion_tokens} tokens`);
      parts.push(`${secs} s`);
      reply.meta.textContent = parts.join(" · ");
      if (!content && outcome !== "done") reply.body.textContent = outcome === "stopped" ? "(stopped before any text)" : "(no reply)";
      setStatus(outcome === "stopped" ? "Stopped." : outcome === "error" ? "" : "Ready.");
      els.prompt.focus();
    }
  }

  // ---- wiring ----------------------------------------------------------------
  els.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = els.prompt.value.trim();
    if (!text || running) return;
    els.prompt.value = "";
    void send(text);
  });
  els.prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      els.composer.requestSubmit();
    }
  });
  els.stop.addEventListener("click", () => running?.abort());
  els.clear.addEventListener("click", () => {
    running?.abort();
    history = [];
    els.transcript.replaceChildren();
    els.empty.hidden = false;
    clearError();
    setStatus("");
  });
  for (const el of [els.system, els.temperature, els.topP, els.maxTokens, els.seed]) {
    el.addEventListener("input", () => {
      showRanges();
      saveSettings();
    });
  }
  els.modelPicker.addEventListener("change", () => {
    const m = models.find((x) => x.id === els.modelPicker.value);
    if (!m) return;
    store(MODEL_STORE, m.id);
    selectModel(m);
  });
  els.apiKey.addEventListener("change", () => {
    store(KEY_STORE, els.apiKey.value.trim());
    void loadModel();
  });
  document.getElementById("settings").addEventListener("submit", (e) => e.preventDefault());

  // Small surface for tests and for the citations feature to reuse.
  window.slmChat = { renderCitations, sseData, safeHref };

  restoreSettings();
  void loadModel();
})();
