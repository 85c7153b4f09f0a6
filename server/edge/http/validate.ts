/**
 * Input validation for REST routes: a body, query or path value through a
 * zod schema, refused as VALIDATION_FAILED naming each offending field.
 */
import type { Request } from 'express';
import { z } from 'zod';
import { ValidationError } from '../../errors.ts';

/** An identifier as it appears in paths and bodies. */
export const identifier = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:@-]+$/, 'must be an identifier');

export function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) throw ValidationError.fromIssues(`invalid ${what}`, parsed.error.issues);
  return parsed.data;
}

/** A path parameter that must be an identifier. */
export function pathParam(req: Request, name: string): string {
  return parse(identifier, req.params[name], name);
}
