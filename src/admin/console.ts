/**
 * admin/console — the web console on the admin listener: `/` is its one page (the app
 * shell; sign-in and everything else happen in it through the admin API), `/assets/*` its
 * scripts and styles, built by scripts/build-console.mjs into dist/console with a content
 * hash in every name, served gzip'd to clients that take it and cached for a year
 * (immutable); the page itself is never cached, so a new build shows at the next load.
 * Nothing comes from elsewhere: the Content-Security-Policy allows this origin only.
 *
 * The page's first language comes from Accept-Language (Chinese or English). Pages and
 * assets need no credentials (they hold no data) but keep the Host check (admin/access.ts
 * 'page'); every number on them comes from the API, with the session's role.
 *
 * Must never: serve a file that is not one of the build's assets, or inline anything the
 * CSP would have to allow.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import { consoleDir } from '../util/assets.js';
import { MtaError } from '../util/errors.js';

// style-src allows inline styles for one reason: the template editor's preview is an
// <iframe sandbox="" srcdoc>, whose document inherits this policy, and mail HTML is styled
// inline. The console's own markup is escaped by Preact (nothing of the API is inlined as
// HTML), scripts stay 'self' only, and a template's remote images and style sheets stay blocked.
export const CONSOLE_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
  + "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

interface Manifest { 'app.js': string; 'style.css': string }

/** 'zh' when Chinese comes before English in Accept-Language, else 'en'. */
export function pickLanguage(acceptLanguage: string | undefined): 'zh' | 'en' {
  const ranked = (acceptLanguage ?? '').split(',').map((part, i) => {
    const [tag, ...params] = part.trim().toLowerCase().split(';');
    const q = Number(params.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find(Boolean) ?? 1);
    return { tag: tag ?? '', q: Number.isFinite(q) ? q : 0, i };
  }).filter((l) => l.q > 0).sort((a, b) => b.q - a.q || a.i - b.i);
  const first = ranked.find((l) => l.tag.startsWith('zh') || l.tag.startsWith('en'));
  return first?.tag.startsWith('zh') ? 'zh' : 'en';
}

function readManifest(dir: string | undefined): Manifest | undefined {
  if (!dir || !existsSync(join(dir, 'manifest.json'))) return undefined;
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

function escapeAttr(s: string): string {
  return s.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(lang: 'zh' | 'en', m: Manifest): string {
  const title = lang === 'zh' ? 'mta 控制台' : 'mta console';
  const noscript = lang === 'zh' ? '控制台需要 JavaScript。' : 'The console needs JavaScript.';
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="${escapeAttr(m['style.css'])}">
<script type="module" src="${escapeAttr(m['app.js'])}"></script>
</head>
<body><div id="app"></div><noscript>${noscript}</noscript></body>
</html>
`;
}

export async function registerConsole(app: FastifyInstance): Promise<void> {
  const dir = consoleDir();
  const manifest = readManifest(dir);
  await app.register(async (scope) => {
    // Every route of this scope is a page or an asset: Host check only, no credentials.
    scope.addHook('onRoute', (o) => { o.config = { ...(o.config as object | undefined), access: 'page' } as typeof o.config; });
    scope.addHook('onSend', async (_request, reply) => { reply.header('content-security-policy', CONSOLE_CSP); });
    if (manifest && dir) {
      await scope.register(fastifyStatic, {
        root: join(dir, 'assets'), prefix: '/assets/', preCompressed: true, index: false, dotfiles: 'deny',
        immutable: true, maxAge: 365 * 24 * 3600 * 1000, decorateReply: false, list: false,
      });
    }
    scope.get('/', (request: FastifyRequest, reply: FastifyReply) => {
      if (!manifest) throw new MtaError('MTA_ERR_UNAVAILABLE', 'the web console is not built (run "npm run build"); the API works without it');
      const lang = pickLanguage(request.headers['accept-language']);
      return reply.code(200).headers({
        'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', vary: 'Accept-Language', 'content-language': lang,
      }).send(page(lang, manifest));
    });
  });
}
