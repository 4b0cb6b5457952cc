// The section page's logic: reads the section id from the URL
// (/sections/<id>), fetches /v1/sections/<id> with the API key the chat page
// keeps in localStorage, and shows the heading path, source path and text,
// one paragraph per blank-line-separated block, always with textContent.
// Knows nothing about retrieval or models.

(async () => {
  const $ = (id) => document.getElementById(id);
  const article = $("section");
  const fail = (message) => {
    $("error").textContent = message;
    $("error").hidden = false;
    $("heading").textContent = "Section unavailable";
    article.removeAttribute("aria-busy");
  };
  const id = decodeURIComponent(location.pathname.replace(/^\/sections\//, ""));
  const headers = {};
  try {
    const key = localStorage.getItem("slm.apiKey");
    if (key) headers.Authorization = `Bearer ${key}`;
  } catch {
    /* no storage: no key */
  }
  let res;
  try {
    res = await fetch(`/v1/sections/${encodeURIComponent(id)}`, { headers });
  } catch (e) {
    fail(`Could not reach the server: ${e?.message ?? e}`);
    return;
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const detail = body?.error?.message ?? `${res.status}`;
    fail(res.status === 401 ? `The server needs an API key: enter it in the chat page's settings. (${detail})` : `The section could not be loaded: ${detail}`);
    return;
  }
  document.title = `${body.heading_path} — ${body.source_path}`;
  $("heading").textContent = body.heading_path;
  $("source").textContent = `${body.source_path} · section ${body.id}`;
  const text = $("text");
  text.replaceChildren();
  for (const block of String(body.text ?? "").split(/\n\s*\n/)) {
    if (!block.trim()) continue;
    const p = document.createElement("p");
    p.textContent = block.trim();
    text.append(p);
  }
  article.removeAttribute("aria-busy");
  article.dataset.loaded = "true";
})();
