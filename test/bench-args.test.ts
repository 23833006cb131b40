// npm run bench refuses a wrong argument of the trigger-latency scenario before it starts
// anything (no DNS server, no PostgreSQL, no daemon): the message names the flag, the exit is 1.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('../bench/run.js', import.meta.url));

t.test('trigger-latency: a wrong --backend, --nodes or --members is refused', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--backend', 'mysql'], /--backend takes sqlite or postgres \(got "mysql"\)/],
    [['--backend', 'postgres', '--nodes', '3'], /--nodes is for scenarios a–d; trigger-latency runs one node/],
    [['--members', '0'], /--members takes a whole number of at least 1/],
    [['--seconds', '0'], /--seconds takes a number of seconds above 0/],
  ];
  for (const [args, message] of cases) {
    const r = spawnSync(process.execPath, [RUN, '--scenario', 'trigger-latency', ...args], { encoding: 'utf8', timeout: 30_000 });
    t.equal(r.status, 1, `${args.join(' ')}: exit 1`);
    t.match(r.stderr, message, `${args.join(' ')}: named`);
    t.equal(r.stdout, '', `${args.join(' ')}: no table printed`);
  }
});
