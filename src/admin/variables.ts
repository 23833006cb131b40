/**
 * admin/variables — the API's schema for an object of variables (`{"UserName": "Ann"}`):
 * names are the client's, so the result is a null-prototype object and `__proto__`,
 * `constructor` or `toString` are names like any other. (zod's record drops a `__proto__`
 * key silently and builds an object with a prototype.)
 */
import { z } from 'zod';

export function variablesSchema(maxValue?: number): z.ZodType<Record<string, string>> {
  return z.custom<Record<string, string>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an object of name → text')
    .superRefine((v, ctx) => {
      for (const [k, x] of Object.entries(v)) {
        if (typeof x !== 'string') ctx.addIssue({ code: 'custom', path: [k], message: 'expected text' });
        else if (maxValue !== undefined && x.length > maxValue) ctx.addIssue({ code: 'custom', path: [k], message: `at most ${maxValue} characters` });
      }
    })
    .transform((v) => Object.assign(Object.create(null) as Record<string, string>, v));
}
