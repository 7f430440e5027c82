// errors.ts — latentkit's error vocabulary. Every error a user can act on carries a stable `code`
// (LATENTKIT_<WHAT>); native errors arrive with theirs already set and get the caller's stack attached here.

export type ErrorCode =
  | 'LATENTKIT_NON_FINITE_LOSS'
  | 'LATENTKIT_BUSY'
  | 'LATENTKIT_CANCELLED'
  | 'LATENTKIT_BAD_CHECKPOINT'
  | 'LATENTKIT_BAD_DATA'
  | 'LATENTKIT_DISTRIBUTED'
  | 'LATENTKIT_INVALID_ARGUMENT'
  | 'LATENTKIT_USAGE'
  | 'LATENTKIT_OUT_OF_MEMORY'
  | 'LATENTKIT_BACKEND'
  | 'LATENTKIT_NATIVE_LOAD'
  | 'LATENTKIT_NOT_FITTED'
  | 'LATENTKIT_NOT_POSITIVE_DEFINITE';

export class LatentkitError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LatentkitError';
    this.code = code;
  }
}

/** Runs a native async job and, if it rejects, gives the error the stack of the JS call that started it. */
export async function withCallerStack<T>(job: () => Promise<T>): Promise<T> {
  const site: { stack?: string } = {};
  Error.captureStackTrace(site, withCallerStack);
  try {
    return await job();
  } catch (e) {
    if (e && typeof e === 'object' && 'message' in e && site.stack) {
      const err = e as Error;
      const callerFrames = site.stack.split('\n').slice(1).join('\n');
      err.stack = `${err.name ?? 'Error'}: ${err.message}\n${callerFrames}`;
    }
    throw e;
  }
}
