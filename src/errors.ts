// Error types for the whole library. Every error slmkit throws on purpose is an
// SlmError with a stable `code`, so callers (the CLI, the server) can map it to
// an exit code or an HTTP status without parsing messages. Knows nothing else.

export type ErrorCode = "SHAPE" | "FORMAT" | "CONFIG" | "USAGE" | "IO" | "NATIVE" | "NOT_FOUND" | "CANCELLED" | "OVERLOADED";

export class SlmError extends Error {
  readonly code: ErrorCode;
  /** A short suggestion of what to do about it, shown after the message. */
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options?.hint;
  }
}

/** Tensor or kernel arguments whose sizes do not fit together. */
export class ShapeError extends SlmError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super("SHAPE", message, options);
  }
}

/** A file (tokenizer.json, safetensors, GGUF, shard…) that is corrupt or unsupported. */
export class FormatError extends SlmError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super("FORMAT", message, options);
  }
}

/** A configuration value that is invalid or names an unsupported feature. */
export class ConfigError extends SlmError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super("CONFIG", message, options);
  }
}

/** Wrong command-line or API usage (missing argument, bad flag value). */
export class UsageError extends SlmError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super("USAGE", message, options);
  }
}

/** The native addon failed or is missing something it needs. */
export class NativeError extends SlmError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super("NATIVE", message, options);
  }
}

/** Work stopped because the caller cancelled it (AbortSignal, client disconnect). */
export class CancelledError extends SlmError {
  constructor(message = "cancelled", options?: { hint?: string; cause?: unknown }) {
    super("CANCELLED", message, options);
  }
}

/** Something the caller named (a model, a file, an index entry) does not exist. */
export class NotFoundError extends SlmError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super("NOT_FOUND", message, options);
  }
}

/** Too much work queued already (the server answers 429 with Retry-After). */
export class OverloadedError extends SlmError {
  /** Seconds after which a retry is likely to be accepted. */
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number, options?: { hint?: string; cause?: unknown }) {
    super("OVERLOADED", message, options);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export function isSlmError(e: unknown): e is SlmError {
  return e instanceof SlmError;
}
