/** Debian's python3-dkim (dkimpy) as an independent DKIM verifier, for the tests that check our signatures. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DOMAIN, SELECTOR } from './dkim-keys.js';

// dkimpy is Debian's python3-dkim; it lives in /usr/bin/python3's dist-packages, which a
// python3 earlier in PATH (pyenv, a venv) does not see.
export const PYTHON = process.env.MTA_TEST_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const PY_VERIFY = `
import os, sys, json, dkim
name = os.environb[b"DKIM_NAME"].lower()
txt = os.environb[b"DKIM_TXT"]
def dnsfunc(n, timeout=5):
    return txt if n.rstrip(b".").lower() == name else None
try:
    ok, why = bool(dkim.DKIM(sys.stdin.buffer.read()).verify(dnsfunc=dnsfunc)), ""
except dkim.DKIMException as e:
    ok, why = False, str(e)
print(json.dumps({"ok": ok, "why": why}))
`;

export function dkimpyAvailable(): { ok: boolean; detail: string } {
  const r = spawnSync(PYTHON, ['-c', 'import dkim, nacl'], { encoding: 'utf8' });
  if (r.error) return { ok: false, detail: `${PYTHON}: ${r.error.message}` };
  return { ok: r.status === 0, detail: r.stderr.trim().split('\n').pop() ?? '' };
}

/** dkimpy's verdict on `message`, with `txt` as the only DNS record (the key at `name`). */
export function verifyDkimpy(message: Buffer, txt: string, name = `${SELECTOR}._domainkey.${DOMAIN}`): boolean {
  const r = spawnSync(PYTHON, ['-c', PY_VERIFY], {
    input: message, env: { ...process.env, DKIM_TXT: txt, DKIM_NAME: name }, encoding: 'buffer',
  });
  if (r.status !== 0) throw new Error(`dkimpy crashed: ${r.stderr.toString()}`);
  return (JSON.parse(r.stdout.toString()) as { ok: boolean }).ok;
}

