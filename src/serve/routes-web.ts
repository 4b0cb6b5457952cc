// The web UI's routes: index.html at /, its other files under /web/, and the
// page of a cited section at /sections/:id (a static shell, web/section.html,
// that fetches the section's JSON with the UI's stored key, so links work with
// and without an API key). Only files read at startup are served. Also the
// section JSON under /v1/sections/:id (key-protected like the rest of /v1).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";

import type { FastifyInstance, FastifyReply } from "fastify";

import { sectionUrl } from "../assistant/served.ts";
import { sendError } from "./api-error.ts";
import type { AppContext } from "./app-context.ts";

export interface StaticFile {
  body: Buffer;
  type: string;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".woff2": "font/woff2",
};

/** Every regular file under root (no dotfiles), by its '/'-separated relative path. */
export function loadStaticFiles(root: string | undefined): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!root || !existsSync(root)) return files;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name.startsWith(".")) continue;
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        const rel = relative(root, p).split(sep).join("/");
        files.set(rel, { body: readFileSync(p), type: CONTENT_TYPES[extname(name).toLowerCase()] ?? "application/octet-stream" });
      }
    }
  };
  walk(root);
  return files;
}

function sendFile(reply: FastifyReply, f: StaticFile): FastifyReply {
  return reply.type(f.type).header("cache-control", "no-cache").send(f.body);
}

/** The sections an assistant cites: JSON under /v1, and a page that shows it. */
export function sectionRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { assistant, web } = ctx;
  const noIndex = (reply: FastifyReply) => sendError(reply, 404, "this server has no document index (start it with --index INDEX)", "not_found");
  const noSection = (reply: FastifyReply, id: string) => sendError(reply, 404, `no section ${JSON.stringify(id)} in the index`, "section_not_found", "id");
  app.get<{ Params: { id: string } }>("/v1/sections/:id", async (req, reply) => {
    if (!assistant) return noIndex(reply);
    const s = assistant.section(req.params.id);
    if (!s) return noSection(reply, req.params.id);
    return {
      object: "section",
      id: s.id,
      source_path: s.source,
      heading_path: s.headingPath,
      heading: s.heading,
      title: s.title,
      text: s.text,
      url: sectionUrl(s.id),
    };
  });
  // The text is inserted by the page's script as text, never as HTML.
  app.get<{ Params: { id: string } }>("/sections/:id", async (req, reply) => {
    if (!assistant) return noIndex(reply);
    if (!assistant.section(req.params.id)) return noSection(reply, req.params.id);
    const f = web.get("section.html");
    if (!f) return sendError(reply, 404, "the web UI is not installed (no section.html); use GET /v1/sections/:id", "not_found");
    return sendFile(reply, f);
  });
}

/** The web UI: index.html at /, its other files under /web/. */
export function webRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { web } = ctx;
  app.get("/", async (_req, reply) => {
    const f = web.get("index.html");
    if (!f) return sendError(reply, 404, "the web UI is not installed (no index.html); the API is under /v1/", "not_found");
    return sendFile(reply, f);
  });
  app.get<{ Params: { "*": string } }>("/web/*", async (req, reply) => {
    const f = web.get(req.params["*"]);
    if (!f) return sendError(reply, 404, `no web UI file ${JSON.stringify(req.params["*"])}`, "not_found");
    return sendFile(reply, f);
  });
}
