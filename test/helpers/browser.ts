/**
 * browser — Debian's chromium driven by playwright-core for the console's tests (no
 * browser download): a fresh profile per session, the flags this closed, root machine
 * needs, and sign-in. Tests skip with the reason when chromium is not installed.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** tap's `skip` option for browser tests: false, or why they cannot run. */
export const browserSkip: false | string = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;

/** Builds the console from the current sources (a plain tsc does not), as npm run build does. */
export function buildConsole(): void {
  execFileSync(process.execPath, [join(process.cwd(), 'scripts', 'build-console.mjs')], { stdio: 'inherit' });
}

export interface BrowserSession {
  ctx: BrowserContext;
  page: Page;
  /** page errors (uncaught exceptions) seen so far: a test asserts none */
  errors: string[];
  /** requests that left `base`: the console must need nothing from elsewhere */
  outside: string[];
  close(): Promise<void>;
}

/** A fresh chromium profile with one page, watching for page errors and requests leaving `base`. */
/** `ignoreHTTPSErrors`: accept the test's self-signed certificate (the console over admin.tls_cert). */
export async function openBrowser(base: string, opts: { locale?: string; viewport?: { width: number; height: number }; ignoreHTTPSErrors?: boolean } = {}): Promise<BrowserSession> {
  const profile = mkdtempSync(join(tmpdir(), 'mta-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, args: FLAGS, headless: true, locale: opts.locale ?? 'en-US',
    ...(opts.viewport ? { viewport: opts.viewport } : {}),
    ...(opts.ignoreHTTPSErrors ? { ignoreHTTPSErrors: true } : {}),
  });
  const page = ctx.pages()[0] ?? await ctx.newPage();
  const errors: string[] = [];
  const outside: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => { if (!r.url().startsWith(base)) outside.push(r.url()); });
  return {
    ctx, page, errors, outside,
    async close() { await ctx.close(); rmSync(profile, { recursive: true, force: true }); },
  };
}

/** Fills and submits the sign-in form. */
export async function signIn(page: Page, name: string, password: string): Promise<void> {
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}
