// One error shape for every API answer: { code, message, errors?: [{ field, in, reason }] },
// with the status taken from the WatchfireError code (contracts/errors.ts).
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ERROR_CODES, WatchfireError, type ErrorCode } from '../contracts/errors.ts';

/**
 * A moment in ms since the epoch that dates and exports can show: 1970 to the end of 9999 (beyond,
 * a Date is invalid and formatting it throws: a 500 where the caller deserves a 400).
 */
export const EpochMs = z.number().int().min(0).max(253_402_300_799_999);
/** EpochMs from a query string. */
export const EpochMsQuery = z.coerce.number().int().min(0).max(253_402_300_799_999);

export const FieldError = z.object({ field: z.string(), in: z.string(), reason: z.string() });
export const ApiError = z.object({
  code: z.string().describe('A WF_* code from contracts/errors.ts'),
  message: z.string(),
  errors: z.array(FieldError).optional(),
});
export type ApiError = z.infer<typeof ApiError>;

const STATUS: Partial<Record<ErrorCode, number>> = {
  WF_INCIDENT_NOT_FOUND: 404,
  WF_HTTP_NOT_FOUND: 404,
  WF_INCIDENT_TRANSITION: 409,
  WF_HTTP_CONFLICT: 409,
  WF_HANDOVER_NOT_FOUND: 404,
  WF_HANDOVER_RECEIVED: 409,
  WF_HANDOVER_SELF: 409,
  WF_INCIDENT_DISPOSITION: 400,
  WF_HTTP_VALIDATION: 400,
  WF_RULES_INVALID: 400,
  WF_HTTP_UNAUTHENTICATED: 401,
  WF_HTTP_FORBIDDEN: 403,
  WF_HTTP_CSRF: 403,
  WF_HTTP_RATE_LIMITED: 429,
  WF_HTTP_BUSY: 503,
  WF_HTTP_UPSTREAM: 502,
  WF_PRIVACY_NOT_FOUND: 404,
  WF_PRIVACY_OPEN_INCIDENT: 409,
  WF_PRIVACY_REASON: 400,
};

export function httpError(code: ErrorCode, message: string, errors?: z.infer<typeof FieldError>[]): WatchfireError & { fields?: z.infer<typeof FieldError>[] } {
  const e = new WatchfireError(code, message) as WatchfireError & { fields?: z.infer<typeof FieldError>[] };
  if (errors) e.fields = errors;
  return e;
}

function fieldOf(instancePath: string): string {
  const f = instancePath.replace(/^\//, '').replace(/\//g, '.');
  return f || '(root)';
}

export function errorHandler(log: { error(o: object, m: string): void }) {
  return (err: FastifyError | WatchfireError, req: FastifyRequest, reply: FastifyReply): void => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = String((err as FastifyError).validationContext ?? 'body');
      const errors = err.validation.map((v) => ({ field: fieldOf(v.instancePath), in: where, reason: v.message ?? 'invalid' }));
      void reply.code(400).send({ code: 'WF_HTTP_VALIDATION', message: `Invalid ${where}: ${errors.map((e) => `${e.field}: ${e.reason}`).join('; ')}`, errors } satisfies ApiError);
      return;
    }
    if (err instanceof WatchfireError) {
      const status = STATUS[err.code] ?? 500;
      const fields = (err as { fields?: z.infer<typeof FieldError>[] }).fields;
      const body: ApiError = { code: err.code, message: err.message };
      const retryAfter = (err as { retryAfter?: number }).retryAfter;
      if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
      if (fields) body.errors = fields;
      else if (err.code === 'WF_INCIDENT_DISPOSITION') body.errors = [{ field: 'disposition', in: 'body', reason: err.message }];
      else if (err.details.length) body.errors = err.details.map((d) => ({ field: d.split(':')[0] ?? '(root)', in: 'body', reason: d }));
      if (status >= 500) log.error({ err, url: req.url }, 'request failed');
      void reply.code(status).send(body);
      return;
    }
    const fe = err as FastifyError;
    // Fastify's own client errors: malformed JSON, empty body, wrong content type, too large.
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      if (fe.statusCode === 429) {
        void reply.code(429).send({ code: 'WF_HTTP_RATE_LIMITED', message: fe.message } satisfies ApiError);
        return;
      }
      void reply.code(fe.statusCode).send({
        code: 'WF_HTTP_VALIDATION',
        message: fe.message,
        errors: [{ field: '(body)', in: 'body', reason: fe.message }],
      } satisfies ApiError);
      return;
    }
    log.error({ err, url: req.url }, 'request failed');
    void reply.code(500).send({ code: 'WF_HTTP_INTERNAL', message: 'Internal error' });
  };
}

/** For documentation: every code this API answers with, and its meaning. */
export function documentedCodes(): Record<string, string> {
  return Object.fromEntries(Object.keys(STATUS).map((c) => [c, `${STATUS[c as ErrorCode]}: ${ERROR_CODES[c as ErrorCode]}`]));
}
