/**
 * admin/console — the web console on the admin listener: `/` is its one page (the app
 * shell; sign-in and everything else happen in it through the admin API), `/assets/*` its
 * scripts and styles, built by scripts/build-console.mjs into dist/console with a content
 * hash in every name, served gzip'd to clients that take it and cached for a year
 * (immutable); the page itself is never cached, so a new build shows at the next load.
 * The npm package serves them from dist/console (@fastify/static); the single executable
 * from the copies it carries (util/assets.ts consoleFiles), with the same headers.
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
import { consoleFiles, type ConsoleFiles } from '../util/assets.js';
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

function readManifest(files: ConsoleFiles): Manifest | undefined {
  const text = files.kind === 'dir'
    ? (existsSync(join(files.dir, 'manifest.json')) ? readFileSync(join(files.dir, 'manifest.json')) : undefined)
    : files.read('manifest.json');
  return text ? JSON.parse(text.toString('utf8')) as Manifest : undefined;
}

const CONTENT_TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml', png: 'image/png',
  ico: 'image/x-icon', woff2: 'font/woff2', json: 'application/json; charset=utf-8',
};
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * The assets of the single executable, served from memory with the headers @fastify/static
 * gives the files of the npm package: a year's immutable caching, the gzip'd copy to a
 * client that takes it. Read once here: the build's files never change under a running binary.
 */
function embeddedAssets(scope: FastifyInstance, read: (path: string) => Buffer | undefined): void {
  const cache = new Map<string, Buffer | undefined>();
  const file = (path: string): Buffer | undefined => {
    if (!cache.has(path)) cache.set(path, read(path));
    return cache.get(path);
  };
  scope.get<{ Params: { name: string } }>('/assets/:name', (request, reply) => {
    const { name } = request.params;
    // One path segment of the build's own names: nothing else is ever looked up.
    const plain = /^[\w.-]+$/.test(name) && !name.endsWith('.gz') ? file(`assets/${name}`) : undefined;
    if (!plain) throw new MtaError('MTA_ERR_NOT_FOUND', `no console asset ${name}`);
    const gz = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? '')) ? file(`assets/${name}.gz`) : undefined;
    reply.headers({
      'content-type': CONTENT_TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream',
      'cache-control': IMMUTABLE, vary: 'accept-encoding',
    });
    if (gz) reply.header('content-encoding', 'gzip');
    return reply.send(gz ?? plain);
  });
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
  const files = consoleFiles();
  const manifest = readManifest(files);
  await app.register(async (scope) => {
    // Every route of this scope is a page or an asset: Host check only, no credentials.
    scope.addHook('onRoute', (o) => { o.config = { ...(o.config as object | undefined), access: 'page' } as typeof o.config; });
    scope.addHook('onSend', async (_request, reply) => { reply.header('content-security-policy', CONSOLE_CSP); });
    if (manifest && files.kind === 'dir') {
      await scope.register(fastifyStatic, {
        root: join(files.dir, 'assets'), prefix: '/assets/', preCompressed: true, index: false, dotfiles: 'deny',
        immutable: true, maxAge: 365 * 24 * 3600 * 1000, decorateReply: false, list: false,
      });
    }
    if (manifest && files.kind === 'embedded') embeddedAssets(scope, files.read);
    scope.get('/', (request: FastifyRequest, reply: FastifyReply) => {
      if (!manifest) throw new MtaError('MTA_ERR_UNAVAILABLE', 'the web console is not built (run "npm run build"); the API works without it');
      const lang = pickLanguage(request.headers['accept-language']);
      return reply.code(200).headers({
        'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', vary: 'Accept-Language', 'content-language': lang,
      }).send(page(lang, manifest));
    });
  });
}
